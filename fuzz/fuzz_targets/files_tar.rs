//! The files store's tar extraction, as a restore runs it on a stored archive: into a scratch
//! staging folder, never anywhere else, never a panic (`store_files::fuzzing::files_tar`).
#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // tmpfs when there is one: thousands of runs a second must not wear the shared disk.
    let base = Path::new("/dev/shm");
    let scratch = if base.is_dir() {
        tempfile::tempdir_in(base)
    } else {
        tempfile::tempdir()
    }
    .expect("a scratch folder");
    let _ = store_files::fuzzing::files_tar(data, scratch.path());
});
