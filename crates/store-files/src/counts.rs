//! What an archive holds, as counted on backup (into the manifest's [`FilesMetadata`]) and on
//! restore or check (compared with it).
//!
//! [`FilesMetadata`]: crate::FilesMetadata

use serde_json::{json, Value};

use crate::FilesError;

/// Entry counts of one archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Regular files.
    pub(crate) files: u64,
    /// Directories (including the configured directories themselves).
    pub(crate) dirs: u64,
    /// Symbolic links.
    pub(crate) symlinks: u64,
    /// Total bytes of the regular files' contents.
    pub(crate) bytes: u64,
}

const KEYS: [&str; 4] = ["files", "dirs", "symlinks", "bytes"];

impl Counts {
    fn values(&self) -> [u64; 4] {
        [self.files, self.dirs, self.symlinks, self.bytes]
    }

    /// The counts as JSON fields, to merge into metadata or report details.
    pub(crate) fn to_json(self) -> Value {
        json!({
            "files": self.files,
            "dirs": self.dirs,
            "symlinks": self.symlinks,
            "bytes": self.bytes,
        })
    }

    /// Fails with [`FilesError::ManifestMismatch`] naming every count that differs.
    pub(crate) fn expect(&self, manifest: &Counts) -> Result<(), FilesError> {
        let differences: Vec<String> = KEYS
            .iter()
            .zip(self.values().iter().zip(manifest.values()))
            .filter(|(_, (found, expected))| *found != expected)
            .map(|(key, (found, expected))| {
                format!("{key}: the manifest says {expected}, the archive holds {found}")
            })
            .collect();
        if differences.is_empty() {
            Ok(())
        } else {
            Err(FilesError::ManifestMismatch(differences.join("; ")))
        }
    }

    /// `12 files, 3 dirs, 1 symlink`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{}, {}, {}",
            plural(self.files, "file", "files"),
            plural(self.dirs, "dir", "dirs"),
            plural(self.symlinks, "symlink", "symlinks"),
        )
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_and_describes() {
        let counts = Counts {
            files: 2,
            dirs: 1,
            symlinks: 1,
            bytes: 10,
        };
        assert!(counts.expect(&counts).is_ok());
        let other = Counts { files: 3, ..counts };
        let err = counts.expect(&other).err().map(|err| err.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "the archive does not match its manifest: \
                 files: the manifest says 3, the archive holds 2"
            )
        );
        assert_eq!(counts.describe(), "2 files, 1 dir, 1 symlink");
    }
}
