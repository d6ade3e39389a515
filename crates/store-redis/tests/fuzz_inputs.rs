//! The inputs of the fuzz targets `redis_rdb`, `redis_logical` and `redis_resp` as ordinary
//! tests (ARCHITECTURE.md, "Fuzz a parser"): the committed seeds (real dumps and replies,
//! `fuzz/seeds/`) and every input a fuzzer found a bug with (`tests/fuzz-regressions/`), each
//! run through the same entry point as its fuzz target (`store_redis::fuzzing`). CI runs these;
//! `fuzz/run.sh` explores further.

use lifeboat_testing::fuzz_inputs;
use store_redis::fuzzing;

#[tokio::test]
async fn rdb_inputs() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "redis_rdb") {
        let result = fuzzing::rdb(&input.data).await;
        if input.seed {
            result.unwrap_or_else(|e| panic!("{}: {e}", input.path.display()));
        }
    }
}

#[tokio::test]
async fn logical_inputs() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "redis_logical") {
        let result = fuzzing::logical(&input.data).await;
        if input.seed {
            result.unwrap_or_else(|e| panic!("{}: {e}", input.path.display()));
        }
    }
}

#[test]
fn resp_inputs() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "redis_resp") {
        let _ = fuzzing::resp(&input.data);
    }
}

/// The `manifest` target's inputs, read for this store's metadata as the target does.
#[test]
fn manifest_inputs_metadata() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "manifest") {
        if let Some(manifest) = backup_core::fuzzing::manifest(&input.data) {
            let _ = manifest.metadata_as::<store_redis::RedisMetadata>();
        }
    }
}
