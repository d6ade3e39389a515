//! Entry points for the fuzz target in `fuzz/` at the repository root (ARCHITECTURE.md, "Fuzz
//! a parser"), shared with the replay of its inputs in `tests/fuzz_inputs.rs`: the extraction
//! a restore runs on a stored tar. Hidden from the docs and not a stable API.

use std::fs;
use std::path::Path;

use crate::archive::Owners;
use crate::FilesError;

/// Extracts `tar` into the existing directory `staging` as a restore does (entries checked,
/// files, directories and symlinks written, directories' modes and mtimes applied last), with
/// the default owner rule: owners dropped, setuid/setgid/sticky bits cleared.
pub fn extract(tar: &[u8], staging: &Path) -> Result<(), FilesError> {
    let (_counts, dirs) = crate::target::extract(tar, staging, Owners::Drop)?;
    crate::target::finish_dirs(dirs, Owners::Drop)
}

/// The fuzz target: extracts `tar` into `scratch/stage` (`scratch` is an empty folder the
/// caller removes afterwards) and panics if anything was written beside it: `scratch/outside`
/// stands for everything beside the staging folder, where an escape through `..` or a symlink
/// would land first. Leaves every folder under `scratch` removable, and returns the
/// extraction's result (an error is fine for arbitrary input).
pub fn files_tar(tar: &[u8], scratch: &Path) -> Result<(), FilesError> {
    let stage = scratch.join("stage");
    let outside = scratch.join("outside");
    fs::create_dir(&stage).expect("a staging folder");
    fs::create_dir(&outside).expect("a folder beside it");
    let result = extract(tar, &stage);
    assert_eq!(
        names(scratch),
        ["outside", "stage"],
        "written beside the staging folder"
    );
    assert!(
        names(&outside).is_empty(),
        "written outside the staging folder"
    );
    // The staging folder may hold read-only folders now: make them removable.
    make_removable(&stage);
    result
}

/// The names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("the scratch folder lists")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Gives every real folder under `dir` (symlinks not followed) mode 0700.
fn make_removable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(&d) {
            for e in entries.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    todo.push(e.path());
                }
            }
        }
    }
}
