//! The fuzz target's inputs as ordinary tests: the committed seeds (a real archive,
//! `fuzz/seeds/files_tar/`) and every input a fuzzer found a bug with
//! (`tests/fuzz-regressions/files_tar/`), each extracted into a scratch folder as the fuzz
//! target does, checking that nothing is written beside it. CI runs these; `fuzz/run.sh`
//! explores further.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

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

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn tar_inputs() {
    let all = inputs("files_tar");
    assert!(!all.is_empty());
    for (path, data) in all {
        let scratch = tempfile::tempdir().unwrap();
        let stage = scratch.path().join("stage");
        let outside = scratch.path().join("outside");
        std::fs::create_dir(&stage).unwrap();
        std::fs::create_dir(&outside).unwrap();
        let result = store_files::fuzzing::extract(&data, &stage);
        assert_eq!(
            names(scratch.path()),
            ["outside", "stage"],
            "{}",
            path.display()
        );
        assert!(names(&outside).is_empty(), "{}", path.display());
        if path.to_string_lossy().contains("/seeds/") {
            result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(names(&stage), ["files"], "{}", path.display());
        }
    }
}
