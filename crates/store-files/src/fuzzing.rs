//! Entry point for the fuzz target in `fuzz/` at the repository root: the extraction a
//! restore runs on a stored tar. Hidden from the docs and not a stable API.

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
