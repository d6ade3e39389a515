//! The committed inputs of a fuzz target, for the replay tests that run them as ordinary tests
//! (ARCHITECTURE.md, "Fuzz a parser").

use std::path::{Path, PathBuf};

/// One committed input of a fuzz target.
#[derive(Debug)]
pub struct FuzzInput {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Its bytes.
    pub data: Vec<u8>,
    /// A seed (`fuzz/seeds/<target>/`: a real dump, manifest or stored object, which must read
    /// without an error), not an input a fuzzer found a bug with.
    pub seed: bool,
}

/// Every committed input of the fuzz target `target`, in name order: its seeds
/// (`fuzz/seeds/<target>/` at the repository root), then the inputs a fuzzer found a bug with
/// (`tests/fuzz-regressions/<target>/` in the crate whose code was wrong, `crate_dir`: pass
/// `env!("CARGO_MANIFEST_DIR")`). Panics when there is no seed, so a moved folder cannot make a
/// replay test pass on nothing.
pub fn fuzz_inputs(crate_dir: &str, target: &str) -> Vec<FuzzInput> {
    let crate_dir = Path::new(crate_dir);
    let seeds = crate_dir.join("../../fuzz/seeds").join(target);
    let regressions = crate_dir.join("tests/fuzz-regressions").join(target);
    let mut out = Vec::new();
    for (dir, seed) in [(seeds, true), (regressions, false)] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.expect("a folder entry").path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).expect("a committed fuzz input reads");
            out.push(FuzzInput { path, data, seed });
        }
    }
    assert!(
        out.iter().any(|i| i.seed),
        "no seed for the fuzz target {target} under {}",
        crate_dir.join("../../fuzz/seeds").display()
    );
    out
}
