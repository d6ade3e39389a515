//! lifeboat's storage backends: one [`OpendalSink`] implementing [`backup_core::Sink`] for a
//! local directory (`fs`), S3 and S3-compatible servers (`s3`), Google Cloud Storage (`gcs`) and
//! Azure Blob Storage (`azblob`), each a cargo feature (all on by default).
//!
//! A storage is configured by a [`StorageConfig`] (a `[storage.NAME]` table of `lifeboat.toml`,
//! see the [`config`] module for the reference) and opened with [`OpendalSink::new`].
//!
//! What every backend guarantees:
//! - an upload that fails, is aborted or is dropped never appears under its key;
//! - reads stream with bounded memory, whatever the object's size;
//! - `list` is recursive, returns objects only (no directories) and never lifeboat's internal
//!   temp folder; a missing prefix is an empty list;
//! - secrets never appear in `Debug` output, descriptions or errors, and errors are short (no
//!   HTTP header dump: see [`ServiceError`]);
//! - every call ends within the storage's timeouts, retries included (see [`Timeouts`]).
//!
//! ```
//! use backup_core::Sink;
//! use bytes::Bytes;
//! use lifeboat_sinks::{FsStorage, OpendalSink, StorageConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let config = StorageConfig::Fs(FsStorage {
//!     root: dir.path().join("backups"),
//!     ..FsStorage::default()
//! });
//! let sink = OpendalSink::new("local", &config)?;
//!
//! sink.put("orders/20240101T020000Z-x7k2/manifest.json", Bytes::from_static(b"{}"))
//!     .await?;
//! let manifest = sink.get("orders/20240101T020000Z-x7k2/manifest.json").await?;
//! assert_eq!(manifest, Bytes::from_static(b"{}"));
//!
//! let objects = sink.list("orders/").await?;
//! assert_eq!(objects.len(), 1);
//! assert!(sink.describe().starts_with("fs:/"));
//! # Ok(())
//! # }
//! ```

mod backends;
pub mod chunking;
pub mod config;
mod error;
mod keys;
mod leftovers;
mod local_fs;
#[cfg(feature = "fs")]
mod local_ops;
mod local_writer;
mod location;
#[cfg(feature = "s3")]
pub mod multipart;
mod opendal_sink;
mod service_error;
mod timeouts;
mod writer;

pub use chunking::chunk_size;
pub use config::{
    AzblobStorage, FsStorage, GcsStorage, S3Storage, Secret, SecretUrl, StorageConfig,
};
pub use error::{RequestError, SinksError};
pub use keys::TMP_DIR_NAME;
pub use location::Location;
pub use opendal_sink::{OpendalSink, READ_CHUNK_SIZE, READ_CONCURRENCY, WRITE_CONCURRENCY};
pub use service_error::ServiceError;
pub use timeouts::{Timeouts, BACKOFF_MAX, BACKOFF_MIN};
