//! [`FilesMetadata`]: what a files backup records in its manifest.

use backup_core::Manifest;
use serde::{Deserialize, Serialize};

use crate::counts::Counts;
use crate::FilesError;

/// What the files store records in the manifest's `metadata` field, counted while the archive
/// was written; a restore or check counts the archive again and compares.
///
/// As JSON:
///
/// ```json
/// {"files": 12, "dirs": 3, "symlinks": 1, "bytes": 48213,
///  "paths": ["./config", "./certs"], "exclude": ["*.tmp"]}
/// ```
///
/// The counts are required (every version of this store wrote them, and an archive cannot be
/// checked without them); `paths` and `exclude` take their defaults when missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesMetadata {
    /// Regular files.
    pub files: u64,
    /// Directories (including the configured directories themselves).
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Total bytes of the regular files' contents.
    pub bytes: u64,
    /// The configured paths, as given.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The configured exclude patterns.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl FilesMetadata {
    /// The metadata of a backup of `paths` (minus `exclude`) that holds `counts`.
    pub(crate) fn new(counts: Counts, paths: Vec<String>, exclude: Vec<String>) -> Self {
        Self {
            files: counts.files,
            dirs: counts.dirs,
            symlinks: counts.symlinks,
            bytes: counts.bytes,
            paths,
            exclude,
        }
    }

    /// The metadata `manifest` recorded.
    pub(crate) fn of(manifest: &Manifest) -> Result<Self, FilesError> {
        manifest
            .metadata_as::<Self>()
            .map_err(FilesError::ManifestMetadata)
    }

    /// The counts to compare an archive with.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            files: self.files,
            dirs: self.dirs,
            symlinks: self.symlinks,
            bytes: self.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(metadata: serde_json::Value) -> Result<FilesMetadata, FilesError> {
        FilesMetadata::of(&lifeboat_testing::manifest("files", "tar", metadata))
    }

    #[test]
    fn reads_what_the_source_writes_and_older_manifests() {
        let counts = Counts {
            files: 2,
            dirs: 1,
            symlinks: 1,
            bytes: 10,
        };
        let written = FilesMetadata::new(counts, vec!["./etc".into()], vec!["*.tmp".into()]);
        let json = serde_json::to_value(&written).unwrap();
        assert_eq!(
            json,
            json!({"files": 2, "dirs": 1, "symlinks": 1, "bytes": 10,
                   "paths": ["./etc"], "exclude": ["*.tmp"]})
        );
        assert_eq!(read(json).unwrap(), written);

        let older = read(json!({"files": 2, "dirs": 1, "symlinks": 1, "bytes": 10})).unwrap();
        assert_eq!(older.counts(), counts);
        assert!(older.paths.is_empty() && older.exclude.is_empty());
    }

    #[test]
    fn metadata_without_counts_is_corrupt() {
        let err = read(json!({"files": 1})).unwrap_err();
        assert_eq!(err.kind(), backup_core::StoreErrorKind::Corrupt);
        assert!(err.to_string().contains("dirs"), "{err}");
        assert!(read(json!({"files": -1, "dirs": 0, "symlinks": 0, "bytes": 0})).is_err());
    }
}
