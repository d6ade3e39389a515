//! The backup side of a store: something that can write one consistent dump as a byte stream.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;

use crate::StoreError;

/// What a source reports once its dump is written, for the manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dumped {
    /// The store's own metadata (its typed metadata struct, serialized): versions, sizes,
    /// table, key or queue counts. Readers get the struct back with
    /// [`Manifest::metadata_as`](crate::Manifest::metadata_as).
    pub metadata: serde_json::Value,
    /// The dump holds password hashes (a RabbitMQ export with its users): recorded in the
    /// manifest, and a backup of it that is not encrypted gets a warning of its own.
    pub contains_password_hashes: bool,
}

impl Dumped {
    /// The report of a dump described by `metadata`.
    pub fn new(metadata: &impl Serialize) -> Result<Self, StoreError> {
        Ok(Self {
            metadata: serde_json::to_value(metadata).map_err(StoreError::failed)?,
            contains_password_hashes: false,
        })
    }

    /// Marks the dump as holding password hashes (or not).
    pub fn with_password_hashes(mut self, contains: bool) -> Self {
        self.contains_password_hashes = contains;
        self
    }
}

/// What [`Source::preflight`] learned about a source before any byte is dumped.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Preflight {
    /// The server or file-format version, when the source has one.
    pub version: Option<String>,
    /// An estimate of the raw dump size in bytes (used for progress bars and upload chunk sizes).
    pub estimated_bytes: Option<u64>,
    /// Anything else worth showing in `lifeboat check` (counts, settings).
    pub details: serde_json::Value,
}

/// A data store that can be backed up as one byte stream.
///
/// Implementations write the dump into `out` and return the store's own metadata for the
/// manifest ([`Dumped`]: versions, sizes, table or key counts). They must not call `shutdown` on `out`: the
/// pipeline finishes every stage itself once `backup` returns `Ok`. An `Err` (or a panic) means
/// the backup failed: the pipeline aborts every upload and writes no manifest, so a source must
/// return `Err` whenever the dump may be incomplete (a child process exiting non-zero, a
/// connection dropped midway), even when some bytes were already written.
#[async_trait]
pub trait Source: Send + Sync {
    /// The store kind as written in the config and the manifest, e.g. `"sqlite"`.
    fn kind(&self) -> &'static str;

    /// The dump format recorded in the manifest, e.g. `"sqlite-db"` or `"tar"`.
    fn dump_format(&self) -> &'static str;

    /// The file extension of the raw dump, without a dot, e.g. `"db"` or `"tar"`.
    fn extension(&self) -> &'static str;

    /// Checks that the source is reachable and usable, without dumping anything.
    async fn preflight(&self) -> Result<Preflight, StoreError>;

    /// Streams one consistent dump into `out` and returns metadata for the manifest.
    async fn backup(&self, out: &mut (dyn AsyncWrite + Send + Unpin))
        -> Result<Dumped, StoreError>;
}
