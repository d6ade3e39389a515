//! The inputs of the fuzz targets `rabbitmq_definitions` and `rabbitmq_messages` as ordinary
//! tests (ARCHITECTURE.md, "Fuzz a parser"): the committed seeds (real dumps, `fuzz/seeds/`)
//! and every input a fuzzer found a bug with (`tests/fuzz-regressions/`), each run through the
//! same entry point as its fuzz target (`store_rabbitmq::fuzzing`). CI runs these;
//! `fuzz/run.sh` explores further.

use lifeboat_testing::fuzz_inputs;
use store_rabbitmq::fuzzing;

#[tokio::test]
async fn messages_inputs() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "rabbitmq_messages") {
        let result = fuzzing::messages(&input.data).await;
        if input.seed {
            result.unwrap_or_else(|e| panic!("{}: {e}", input.path.display()));
        }
    }
}

#[tokio::test]
async fn definitions_inputs() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "rabbitmq_definitions") {
        let result = fuzzing::definitions(&input.data).await;
        if input.seed {
            result.unwrap_or_else(|e| panic!("{}: {e}", input.path.display()));
        }
    }
}

/// The `manifest` target's inputs, read for this store's metadata as the target does.
#[test]
fn manifest_inputs_metadata() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "manifest") {
        if let Some(manifest) = backup_core::fuzzing::manifest(&input.data) {
            let _ = manifest.metadata_as::<store_rabbitmq::RabbitmqMetadata>();
        }
    }
}
