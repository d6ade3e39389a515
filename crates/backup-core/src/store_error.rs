//! The error a store (a [`Source`](crate::Source), [`Target`](crate::Target) or
//! [`FormatCheck`](crate::FormatCheck)) hands back to the pipeline.
//!
//! Each store crate keeps its own `thiserror` enum with the context that matters to it (which
//! file, which command, which table) and converts it into a [`StoreError`] with one of a few
//! [`StoreErrorKind`]s, which is all the pipeline and the CLI need to pick an exit code.

use std::error::Error as StdError;
use std::fmt;

/// What kind of failure a store reports; the CLI maps these to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The store could not do its job (unreachable server, I/O error, tool failed).
    Failed,
    /// The restore target holds data and `--force` was not given; nothing was changed.
    TargetNotEmpty,
    /// The artifact's content is not a valid dump of its format (integrity failure).
    Corrupt,
    /// The store's own configuration is wrong (bad path, bad option).
    Config,
}

/// An error from a store, carrying its kind and the store's own error as the cause.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    inner: Box<dyn StdError + Send + Sync>,
}

impl StoreError {
    /// Wraps a store's error with an explicit kind.
    pub fn new(kind: StoreErrorKind, inner: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            kind,
            inner: inner.into(),
        }
    }

    /// A generic failure of the store.
    pub fn failed(inner: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::new(StoreErrorKind::Failed, inner)
    }

    /// The restore target is not empty and `--force` was not given.
    pub fn target_not_empty(inner: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::new(StoreErrorKind::TargetNotEmpty, inner)
    }

    /// The artifact is not a valid dump of its declared format.
    pub fn corrupt(inner: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::new(StoreErrorKind::Corrupt, inner)
    }

    /// The store's configuration is invalid.
    pub fn config(inner: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::new(StoreErrorKind::Config, inner)
    }

    /// The kind of this error.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The store's own error.
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self.inner.as_ref()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner.source()
    }
}
