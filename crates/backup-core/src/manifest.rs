//! The manifest: one JSON document per backup, written last. A backup exists once its manifest
//! does; the catalog is the list of manifests in storage.

use lifeboat_edge::shown::{excerpt_str, Shown};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{BackupId, TransformSpec};

/// The value of the manifest's `format` field.
pub const MANIFEST_FORMAT: &str = "lifeboat-manifest/1";

/// Everything lifeboat records about one backup (`manifest.json`).
///
/// Only public material goes in here: transform specs carry age *recipients*, never identities
/// or passphrases, and store metadata never carries URLs with credentials.
///
/// Unknown fields are ignored when reading, so a later version may add fields within
/// `lifeboat-manifest/1` without older binaries refusing its backups; a change that older
/// binaries must not ignore bumps [`MANIFEST_FORMAT`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// The backup id (also the folder name in storage).
    pub id: BackupId,
    /// Which source this is a backup of.
    pub source: SourceRef,
    /// When the backup started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When the data stream was complete.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// Wall time of the backup, in milliseconds.
    pub duration_ms: u64,
    /// The host that ran the backup.
    pub host: String,
    /// The lifeboat version that wrote it, e.g. `lifeboat 0.1.0`.
    pub tool_version: String,
    /// The raw dump's format, e.g. `sqlite-db`, `tar`, `pg_dump-custom`.
    pub dump_format: String,
    /// The stored data object.
    pub artifact: Artifact,
    /// The transforms applied on backup, in order (restore undoes them in reverse).
    pub transforms: Vec<TransformSpec>,
    /// The store's own metadata (versions, sizes, counts): the store's typed metadata struct,
    /// read back with [`Manifest::metadata_as`].
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// The dump holds password hashes (a RabbitMQ export with users). Absent means false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contains_password_hashes: bool,
}

/// The source a backup belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceRef {
    /// The source's name from the config.
    pub name: String,
    /// Its kind, e.g. `sqlite`.
    pub kind: String,
}

/// The stored data object of a backup and the checksums that guard it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Artifact {
    /// The object's key relative to the storage root.
    pub key: String,
    /// Bytes of the raw dump, before any transform.
    pub raw_bytes: u64,
    /// Bytes of the stored object.
    pub stored_bytes: u64,
    /// Hex sha256 of the raw dump.
    pub raw_sha256: String,
    /// Hex sha256 of the stored object.
    pub stored_sha256: String,
}

/// A manifest that cannot be read. A manifest comes from storage, so the texts quote what it
/// holds only as short escaped excerpts ([`lifeboat_edge::shown`]): a tampered one cannot put
/// terminal escapes or a huge blob into a message.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the manifest's shape (the parser's error, with its line and column, is
    /// reachable with [`Shown::get`]).
    #[error("manifest is not valid JSON of lifeboat's manifest shape: {0}")]
    Parse(#[source] Shown),
    /// Written by an unknown (newer) format version (an excerpt of the `format` field).
    #[error("manifest format `{0}` is not supported (expected `{MANIFEST_FORMAT}`)")]
    UnsupportedFormat(String),
    /// The store metadata is not of the shape its store writes.
    #[error("the manifest's store metadata is not what the store writes: {0}")]
    Metadata(#[source] Shown),
    /// The manifest cannot be serialized (a metadata value JSON cannot hold).
    #[error("the manifest cannot be written as JSON: {0}")]
    Serialize(#[source] serde_json::Error),
}

impl Manifest {
    /// Parses and validates a manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Parse(Shown::new(e)))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ManifestError::UnsupportedFormat(excerpt_str(
                &manifest.format,
            )));
        }
        Ok(manifest)
    }

    /// Serializes the manifest as pretty JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, ManifestError> {
        serde_json::to_vec_pretty(self).map_err(ManifestError::Serialize)
    }

    /// Stored size as a fraction of the raw size (0.25 = four times smaller).
    pub fn ratio(&self) -> f64 {
        if self.artifact.raw_bytes == 0 {
            1.0
        } else {
            self.artifact.stored_bytes as f64 / self.artifact.raw_bytes as f64
        }
    }

    /// The store metadata as the store's typed struct `T` (missing fields take `T`'s serde
    /// defaults, so manifests of earlier versions still read).
    pub fn metadata_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, ManifestError> {
        T::deserialize(&self.metadata).map_err(|e| ManifestError::Metadata(Shown::new(e)))
    }

    /// Whether the stored object is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.transforms.iter().any(TransformSpec::is_encryption)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `manifest` fuzz target (`tests/fuzz-regressions/manifest/`): serde_json's
    /// fast float parser read this integer as 1.1111111111111109e104, which is written as such
    /// and then read as 1.111111111111111e104.
    #[test]
    fn a_large_number_in_the_metadata_survives_a_round_trip() {
        let json = include_bytes!("../tests/fuzz-regressions/manifest/float-round-trip.json");
        let manifest = Manifest::from_json(json).expect("the manifest parses");
        let again = Manifest::from_json(&manifest.to_json().expect("it serializes"))
            .expect("the written manifest parses");
        assert_eq!(again, manifest);
        assert_eq!(
            manifest.metadata["n"],
            serde_json::json!(1.111111111111111e104)
        );
    }
}
