//! Errors of this crate: opening a storage ([`SinksError`]), and requests refused before they
//! reach a backend ([`RequestError`], carried inside `SinkError::Backend`).

use std::path::PathBuf;

use backup_core::SinkError;

/// Opening a storage failed. Every variant names the storage (its name in the config).
#[derive(Debug, thiserror::Error)]
pub enum SinksError {
    /// The config names a backend that this build does not include.
    #[error(
        "storage `{storage}`: kind `{kind}` is not compiled into this build of lifeboat \
         (enable the `{kind}` feature of lifeboat-sinks)"
    )]
    FeatureDisabled {
        /// The storage's name.
        storage: String,
        /// The backend kind: `s3`, `gcs`, `azblob` or `fs`.
        kind: &'static str,
    },
    /// The storage's config is unusable.
    #[error("storage `{storage}`: {problem}")]
    InvalidConfig {
        /// The storage's name.
        storage: String,
        /// What is wrong, naming the key.
        problem: String,
    },
    /// A local directory could not be created or prepared.
    #[error("storage `{storage}`: cannot prepare directory `{}`: {source}", path.display())]
    LocalDir {
        /// The storage's name.
        storage: String,
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// OpenDAL refused the backend's configuration.
    #[error("storage `{storage}`: cannot set up the {kind} backend: {source}")]
    Backend {
        /// The storage's name.
        storage: String,
        /// The backend kind.
        kind: &'static str,
        /// OpenDAL's error (it never contains credentials).
        #[source]
        source: Box<opendal::Error>,
    },
}

/// A request that a sink refused before reaching the backend. It is the `source` of a
/// [`SinkError::Backend`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The key (or prefix) is not a valid relative `/`-separated path.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// `write` or `close` was called after the upload was closed or aborted.
    #[error("the upload was already closed or aborted")]
    WriterFinished,
}

/// A refused request as a [`SinkError`].
pub(crate) fn refused(op: &'static str, key: &str, err: RequestError) -> SinkError {
    SinkError::backend(op, key, err)
}
