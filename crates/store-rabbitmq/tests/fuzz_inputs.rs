//! The fuzz targets' inputs as ordinary tests: the committed seeds (real dumps, `fuzz/seeds/`)
//! and every input a fuzzer found a bug with (`tests/fuzz-regressions/`), each run through the
//! same hook as its fuzz target. CI runs these; `fuzz/run.sh` explores further.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use store_rabbitmq::DumpFormat;

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

fn is_seed(path: &Path) -> bool {
    path.to_string_lossy().contains("/seeds/")
}

#[tokio::test]
async fn messages_inputs() {
    let all = inputs("rabbitmq_messages");
    assert!(!all.is_empty());
    for (path, data) in all {
        let result = store_rabbitmq::fuzzing::dump(&data, DumpFormat::Messages).await;
        if is_seed(&path) {
            result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[tokio::test]
async fn definitions_inputs() {
    let all = inputs("rabbitmq_definitions");
    assert!(!all.is_empty());
    for (path, data) in all {
        // As the fuzz target: the first byte picks the scanner's chunk size.
        let Some((&chunk, doc)) = data.split_first() else {
            continue;
        };
        let scanned = store_rabbitmq::fuzzing::scan(doc, usize::from(chunk) + 1).map(|_| ());
        let read = store_rabbitmq::fuzzing::dump(doc, DumpFormat::Definitions).await;
        if is_seed(&path) {
            scanned.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            read.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}
