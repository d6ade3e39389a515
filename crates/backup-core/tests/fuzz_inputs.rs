//! The inputs of the fuzz targets `manifest` and `decrypt_chain` as ordinary tests
//! (ARCHITECTURE.md, "Fuzz a parser"): the committed seeds (`fuzz/seeds/`: real manifests,
//! real encrypted objects) and every input a fuzzer found a bug with
//! (`tests/fuzz-regressions/`), each run through the same entry point as its fuzz target
//! (`backup_core::fuzzing`), which panics where the target would crash. CI runs these;
//! `fuzz/run.sh` explores further.

use std::path::Path;

use backup_core::fuzzing;
use lifeboat_testing::fuzz_inputs;

#[test]
fn manifest_inputs() {
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "manifest") {
        let parsed = fuzzing::manifest(&input.data);
        assert!(
            parsed.is_some() || !input.seed,
            "{}: a real manifest does not parse",
            input.path.display()
        );
    }
}

/// The seeds are a selector byte (1: age then zstd, 5: age then gzip), then an object a real
/// backup stored, encrypted to `fuzz/test-identity.txt`: each must decrypt and decompress to
/// something.
#[tokio::test]
async fn decrypt_chain_inputs() {
    let identity = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/test-identity.txt");
    let keyring = fuzzing::keyring(&std::fs::read_to_string(identity).expect("the identity"));
    for input in fuzz_inputs(env!("CARGO_MANIFEST_DIR"), "decrypt_chain") {
        let read = fuzzing::decrypt_chain(&input.data, &keyring).await;
        if input.seed {
            assert!(
                read.is_some_and(|n| n > 0),
                "{}: a real object does not restore",
                input.path.display()
            );
        }
    }
}
