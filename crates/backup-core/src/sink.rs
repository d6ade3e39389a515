//! Storage backends: where artifacts and manifests live.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use time::OffsetDateTime;
use tokio::io::AsyncRead;

use crate::leftovers::{LeftoverScope, StorageLeftover};

/// A boxed reader as returned by [`Sink::open_read`].
pub type BoxReader = Box<dyn AsyncRead + Send + Unpin>;

/// The most bytes [`Sink::get`] reads: it is meant for manifests and locks, never for dumps.
pub const MAX_SMALL_OBJECT: u64 = 16 * 1024 * 1024;

/// An error from a storage backend, with the operation and the key it concerned.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The object does not exist.
    #[error("object `{key}` not found")]
    NotFound {
        /// The key that was looked up.
        key: String,
    },
    /// An object read with [`Sink::get`] is larger than [`MAX_SMALL_OBJECT`].
    #[error("object `{key}` is {size} bytes, more than the {MAX_SMALL_OBJECT} bytes a manifest may have")]
    TooLarge {
        /// The key.
        key: String,
        /// Its size.
        size: u64,
    },
    /// The backend failed.
    #[error("{op} `{key}` failed: {source}")]
    Backend {
        /// The operation: `write`, `read`, `list`, `stat`, `delete`, `close`, `abort`.
        op: &'static str,
        /// The key (or prefix) it concerned.
        key: String,
        /// The backend's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl SinkError {
    /// Builds a [`SinkError::Backend`].
    pub fn backend(
        op: &'static str,
        key: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            op,
            key: key.into(),
            source: source.into(),
        }
    }
}

/// How long the pipeline waits on one storage before it gives up on it (ARCHITECTURE.md,
/// invariant 7): a storage that accepts connections and never answers must not hold a backup
/// up, nor keep the other storages from getting their manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// The longest one call may take (a `write` or `close` of an upload, a `put`, a `get`...),
    /// retries included.
    pub call: Duration,
    /// The longest an `abort` may take after a call failed or timed out.
    pub abort: Duration,
}

impl Deadlines {
    /// The deadlines of a storage that declares none: together at most 120 s.
    pub const DEFAULT: Self = Self {
        call: Duration::from_secs(100),
        abort: Duration::from_secs(20),
    };

    /// The longest the pipeline waits on this storage before dropping it: a call that runs
    /// out of time, then its abort.
    pub fn drop_after(&self) -> Duration {
        self.call.saturating_add(self.abort)
    }
}

impl Default for Deadlines {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A storage call that did not finish within its deadline (the `source` of a
/// [`SinkError::Backend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no answer within {}s", .after.as_secs_f64())]
pub struct DeadlineExceeded {
    /// The deadline.
    pub after: Duration,
}

/// Runs `call` (operation `op` on `key`) for at most `deadline`; past it, the call is dropped
/// and the error is a [`SinkError::Backend`] whose source is [`DeadlineExceeded`].
pub async fn within<T>(
    deadline: Duration,
    op: &'static str,
    key: &str,
    call: impl Future<Output = Result<T, SinkError>>,
) -> Result<T, SinkError> {
    match tokio::time::timeout(deadline, call).await {
        Ok(result) => result,
        Err(_) => Err(SinkError::backend(
            op,
            key,
            DeadlineExceeded { after: deadline },
        )),
    }
}

/// What a storage knows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key, relative to the storage root, with `/` separators.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last modified, when the backend says.
    pub last_modified: Option<OffsetDateTime>,
}

/// What [`Sink::put_if_absent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutIfAbsent {
    /// The object did not exist and now holds the data: this caller created it.
    Created,
    /// An object already existed under the key; it was left untouched.
    Exists,
    /// The backend cannot create conditionally; nothing was written.
    Unsupported,
}

/// An upload in progress. Exactly one of [`SinkWriter::close`] or [`SinkWriter::abort`] ends it.
#[async_trait]
pub trait SinkWriter: Send {
    /// Appends a chunk. Backends buffer and upload in parts as they see fit.
    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError>;

    /// Completes the upload: only now does the object exist under its key.
    async fn close(&mut self) -> Result<(), SinkError>;

    /// Abandons the upload, leaving no object (or nothing that looks complete) behind.
    async fn abort(&mut self) -> Result<(), SinkError>;
}

/// A storage backend. Keys are relative to the storage's root and use `/` separators.
#[async_trait]
pub trait Sink: Send + Sync {
    /// The storage's name from the config, e.g. `"local"`.
    fn name(&self) -> &str;

    /// A human description without secrets, e.g. `fs:/var/backups` or `s3://bucket/prefix`.
    fn describe(&self) -> String;

    /// How long the pipeline waits on this storage (its configured timeouts, retries
    /// included). The default is [`Deadlines::DEFAULT`].
    fn deadlines(&self) -> Deadlines {
        Deadlines::DEFAULT
    }

    /// Starts an upload of `key`. `size_hint` (bytes) lets a backend pick a part size that
    /// keeps a multipart upload under its part-count limit.
    async fn open_write(
        &self,
        key: &str,
        size_hint: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError>;

    /// Opens `key` for streaming reads.
    async fn open_read(&self, key: &str) -> Result<BoxReader, SinkError>;

    /// Lists every object below `prefix` (recursively), in no particular order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, SinkError>;

    /// Returns the object's metadata, or `None` when it does not exist.
    async fn stat(&self, key: &str) -> Result<Option<ObjectMeta>, SinkError>;

    /// Deletes `key`; deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), SinkError>;

    /// Writes a small object in one go (manifests, locks).
    async fn put(&self, key: &str, data: Bytes) -> Result<(), SinkError> {
        let size = data.len() as u64;
        let mut writer = self.open_write(key, Some(size)).await?;
        if let Err(err) = writer.write(data).await {
            // Best effort: the write error is the one worth reporting.
            let _ = writer.abort().await;
            return Err(err);
        }
        writer.close().await
    }

    /// Creates a small object only if nothing exists under `key`, atomically: of several
    /// concurrent callers (in any process or host) at most one gets [`PutIfAbsent::Created`].
    /// Used for locks. The default returns [`PutIfAbsent::Unsupported`] without writing, and
    /// callers then fall back to weaker schemes.
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutIfAbsent, SinkError> {
        let _ = (key, data);
        Ok(PutIfAbsent::Unsupported)
    }

    /// Reads a small object whole (at most [`MAX_SMALL_OBJECT`] bytes).
    async fn get(&self, key: &str) -> Result<Bytes, SinkError>;

    /// What the storage holds besides its objects in `scope`, left by failed or killed runs:
    /// temp uploads, empty folders, unfinished multipart uploads, each with its modification
    /// time (`crate::leftovers`). The default (a storage that keeps nothing but objects)
    /// reports none.
    async fn list_leftovers(
        &self,
        scope: LeftoverScope<'_>,
    ) -> Result<Vec<StorageLeftover>, SinkError> {
        let _ = scope;
        Ok(Vec::new())
    }

    /// Removes one leftover reported by [`Sink::list_leftovers`]; one already gone is not an
    /// error. The default deletes its key as an object.
    async fn remove_leftover(&self, leftover: &StorageLeftover) -> Result<(), SinkError> {
        self.delete(&leftover.key).await
    }
}
