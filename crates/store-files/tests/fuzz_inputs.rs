//! The inputs of the fuzz target `files_tar` as ordinary tests (ARCHITECTURE.md, "Fuzz a
//! parser"): the committed seeds (a real archive, `fuzz/seeds/files_tar/`) and every input a
//! fuzzer found a bug with (`tests/fuzz-regressions/files_tar/`), each run through the same
//! entry point as the fuzz target (`store_files::fuzzing::files_tar`: extracted into a scratch
//! folder, panicking if anything is written beside it). CI runs these; `fuzz/run.sh` explores
//! further.

use lifeboat_testing::fuzz_inputs;
use store_files::fuzzing;

#[test]
fn files_tar_inputs() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "files_tar") {
        let scratch = tempfile::tempdir().expect("a scratch folder");
        let result = fuzzing::files_tar(&input.data, scratch.path());
        if input.seed {
            result.unwrap_or_else(|e| panic!("{}: {e}", input.path.display()));
            let stage = scratch.path().join("stage");
            assert_eq!(
                fuzzing::names(&stage),
                ["files"],
                "{}",
                input.path.display()
            );
        }
    }
}

/// The `manifest` target's inputs, read for this store's metadata as the target does.
#[test]
fn manifest_inputs_metadata() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "manifest") {
        if let Some(manifest) = backup_core::fuzzing::manifest(&input.data) {
            let _ = manifest.metadata_as::<store_files::FilesMetadata>();
        }
    }
}
