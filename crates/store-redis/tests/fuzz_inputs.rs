//! The fuzz targets' inputs as ordinary tests: the committed seeds (real dumps, `fuzz/seeds/`)
//! and every input a fuzzer found a bug with (`tests/fuzz-regressions/`), each run through the
//! same hook as its fuzz target. CI runs these; `fuzz/run.sh` explores further.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Every input of `target`: the seeds, then the regressions.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        here.join("../../fuzz/seeds").join(target),
        here.join("tests/fuzz-regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        out.extend(files.into_iter().map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        }));
    }
    out
}

#[tokio::test]
async fn rdb_inputs() {
    let all = inputs("redis_rdb");
    assert!(!all.is_empty());
    for (path, data) in all {
        let result = store_redis::fuzzing::rdb(&data).await;
        if path.to_string_lossy().contains("/seeds/") {
            result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[tokio::test]
async fn logical_inputs() {
    let all = inputs("redis_logical");
    assert!(!all.is_empty());
    for (path, data) in all {
        let result = store_redis::fuzzing::logical(&data).await;
        if path.to_string_lossy().contains("/seeds/") {
            result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[test]
fn resp_inputs() {
    let all = inputs("redis_resp");
    assert!(!all.is_empty());
    for (_, data) in all {
        let _ = store_redis::fuzzing::resp(&data);
    }
}
