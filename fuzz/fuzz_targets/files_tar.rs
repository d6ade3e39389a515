//! The files store's tar extraction, as a restore runs it on a stored archive: into a scratch
//! staging folder, never anywhere else, never a panic.
#![no_main]
#[path = "common.rs"]
mod common;

use std::fs;
use std::path::Path;

fn names(dir: &Path) -> Vec<String> {
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

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // tmpfs when there is one: thousands of runs a second must not wear the shared disk.
    let base = Path::new("/dev/shm");
    let scratch = if base.is_dir() {
        tempfile::tempdir_in(base)
    } else {
        tempfile::tempdir()
    }
    .expect("a scratch folder");
    // `outside` stands for everything beside the staging folder: an escape through `..`
    // or a symlink would land there first.
    let stage = scratch.path().join("stage");
    let outside = scratch.path().join("outside");
    fs::create_dir(&stage).expect("stage");
    fs::create_dir(&outside).expect("outside");
    let _ = store_files::fuzzing::extract(data, &stage);
    assert_eq!(
        names(scratch.path()),
        ["outside", "stage"],
        "written beside the staging folder"
    );
    assert!(
        names(&outside).is_empty(),
        "written outside the staging folder"
    );
    // The staging folder may hold read-only folders now: make them removable.
    make_removable(&stage);
});

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
