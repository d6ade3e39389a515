//! The pipeline's error, and the [`ErrorClass`] the CLI maps to exit codes.

use crate::transform::TransformError;
use crate::{ManifestError, SinkError, StoreError, StoreErrorKind};

/// What went wrong, in the terms of the exit codes (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Anything else (exit 1).
    Failure,
    /// The configuration is wrong (exit 2).
    Config,
    /// Cannot decrypt: wrong or missing key (exit 12).
    Decrypt,
    /// Checksum mismatch, truncated or corrupt artifact (exit 13).
    Integrity,
    /// A restore target holds data and `--force` was not given (exit 1).
    TargetNotEmpty,
}

/// An error of a backup, restore, verify or catalog operation, with its context.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source failed while dumping.
    #[error("source `{name}` failed: {error}")]
    Source {
        /// The source's name.
        name: String,
        /// The store's error.
        #[source]
        error: StoreError,
    },
    /// The restore target or format check failed (stores name their target in the message).
    #[error("{error}")]
    Target {
        /// The target's description.
        target: String,
        /// The store's error.
        #[source]
        error: StoreError,
    },
    /// A storage backend failed.
    #[error("storage `{storage}`: {error}")]
    Storage {
        /// The storage's name.
        storage: String,
        /// The backend's error.
        #[source]
        error: SinkError,
    },
    /// The artifact cannot be decrypted with the configured keys.
    #[error("cannot decrypt `{key}`: {reason}")]
    Decrypt {
        /// The artifact key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The artifact is not what its manifest describes.
    #[error("integrity failure in `{key}`: {reason}")]
    Integrity {
        /// The artifact key.
        key: String,
        /// What does not match.
        reason: String,
    },
    /// A transform could not be set up.
    #[error("{0}")]
    Transform(#[from] TransformError),
    /// A stage of the byte path failed.
    #[error("{stage}: {error}")]
    Stream {
        /// The stage, e.g. `finishing the backup stream`.
        stage: &'static str,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// A manifest cannot be read.
    #[error("manifest `{key}` in storage `{storage}`: {error}")]
    Manifest {
        /// The storage's name.
        storage: String,
        /// The manifest key.
        key: String,
        /// What is wrong with it.
        #[source]
        error: ManifestError,
    },
    /// A backup's dump format is not one the target or check reads (a config whose source
    /// kind does not match its backups). Refused before a byte is read.
    #[error(
        "backup {id} is a `{format}` dump, which {reader} does not read (it reads {accepted})"
    )]
    UnsupportedDumpFormat {
        /// The backup id.
        id: String,
        /// The manifest's dump format.
        format: String,
        /// The target's description, or "the format check".
        reader: String,
        /// The formats it reads.
        accepted: String,
    },
    /// Every storage failed; one error per storage.
    #[error("every storage failed: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    AllStoragesFailed(Vec<Error>),
}

impl Error {
    /// The class of this error, for exit codes.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Decrypt { .. } => ErrorClass::Decrypt,
            Error::Integrity { .. } => ErrorClass::Integrity,
            Error::Transform(TransformError::Config(_)) => ErrorClass::Config,
            Error::Transform(TransformError::Decrypt(_)) => ErrorClass::Decrypt,
            Error::Transform(TransformError::Corrupt(_)) => ErrorClass::Integrity,
            // A source that is missing, unreachable or producing garbage at run time is a failed
            // backup (exit 1): the config parsed fine, and exit 13 is about stored artifacts.
            Error::Source { error, .. }
                if matches!(
                    error.kind(),
                    StoreErrorKind::Config | StoreErrorKind::Corrupt
                ) =>
            {
                ErrorClass::Failure
            }
            Error::Source { error, .. } | Error::Target { error, .. } => match error.kind() {
                StoreErrorKind::Corrupt => ErrorClass::Integrity,
                StoreErrorKind::TargetNotEmpty => ErrorClass::TargetNotEmpty,
                StoreErrorKind::Config => ErrorClass::Config,
                StoreErrorKind::Failed => ErrorClass::Failure,
            },
            Error::UnsupportedDumpFormat { .. } => ErrorClass::Config,
            Error::Manifest {
                error: ManifestError::UnsupportedFormat(_),
                ..
            } => ErrorClass::Failure,
            Error::Manifest { .. } => ErrorClass::Integrity,
            Error::AllStoragesFailed(errors) => errors
                .iter()
                .map(Error::class)
                .find(|c| *c != ErrorClass::Failure)
                .unwrap_or(ErrorClass::Failure),
            _ => ErrorClass::Failure,
        }
    }
}
