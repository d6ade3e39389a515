//! # backup-core
//!
//! The spine of lifeboat: the [`Source`], [`Transform`](transform::Transform), [`Sink`] and
//! [`Target`] traits, the streaming backup and restore pipelines, the manifest and the catalog.
//!
//! ```text
//! backup:   Source ─► [sha256 raw] ─► compress ─► encrypt ─► [sha256 stored] ─► Sink writers
//! restore:  Sink reader ─► [sha256 stored] ─► decrypt ─► decompress ─► [sha256 raw] ─► Target
//! ```
//!
//! Every stage is a tokio `AsyncWrite`/`AsyncRead`, so memory stays at a few buffers whatever
//! the size of the dump, and a slow storage slows the source down (backpressure). The manifest
//! is written last: a backup exists once its manifest does.
//!
//! ## Example
//!
//! Back up an in-memory "source" through zstd and age into a storage, then read it back:
//!
//! ```
//! # use std::sync::Arc;
//! # use async_trait::async_trait;
//! # use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
//! use backup_core::{pipeline, transform, Dumped, Preflight, Source, StoreError};
//! # use lifeboat_testing::MemorySink;
//!
//! struct Greeting;
//!
//! #[async_trait]
//! impl Source for Greeting {
//!     fn kind(&self) -> &'static str { "greeting" }
//!     fn dump_format(&self) -> &'static str { "text" }
//!     fn extension(&self) -> &'static str { "txt" }
//!     async fn preflight(&self) -> Result<Preflight, StoreError> { Ok(Preflight::default()) }
//!     async fn backup(
//!         &self,
//!         out: &mut (dyn AsyncWrite + Send + Unpin),
//!     ) -> Result<Dumped, StoreError> {
//!         out.write_all(b"hello, lifeboat").await.map_err(StoreError::failed)?;
//!         Dumped::new(&serde_json::json!({ "lines": 1 }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let identity = age::x25519::Identity::generate();
//! let recipient = identity.to_public().to_string();
//! let transforms: Vec<Box<dyn transform::Transform>> = vec![
//!     transform::Compression::default().transform()?.expect("zstd"),
//!     Box::new(transform::Encryption::to_recipients(&[recipient])?.transform()),
//! ];
//! let storage: Arc<dyn backup_core::Sink> = Arc::new(MemorySink::new("memory"));
//! let outcome = pipeline::run_backup(pipeline::BackupRequest {
//!     source_name: "greeting",
//!     source: &Greeting,
//!     transforms: &transforms,
//!     sinks: std::slice::from_ref(&storage),
//!     size_hint: None,
//!     progress: None,
//! })
//! .await?;
//!
//! let keyring = transform::Keyring::new().with_identities(vec![identity]);
//! let request = pipeline::RestoreRequest {
//!     sink: storage.as_ref(),
//!     manifest: &outcome.manifest,
//!     keyring: &keyring,
//!     progress: None,
//! };
//! let mut restored = String::new();
//! pipeline::open_restore_stream(&request).await?.read_to_string(&mut restored).await?;
//! assert_eq!(restored, "hello, lifeboat");
//! # Ok(())
//! # }
//! ```

mod backup_id;
pub mod catalog;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
mod layout;
pub mod leftovers;
pub mod lock;
mod manifest;
pub mod pipeline;
pub mod process;
pub mod prune;
pub mod retention;
pub mod scratch_name;
mod sink;
mod source;
pub mod store;
mod store_error;
mod target;
pub mod transform;
pub mod verify_record;

pub use backup_id::{BackupId, InvalidBackupId};
pub use error::{Error, ErrorClass};
pub use layout::{
    backup_dir, data_key, is_valid_source_name, manifest_key, source_prefix, MANIFEST_FILE,
};
pub use manifest::{Artifact, Manifest, ManifestError, SourceRef, MANIFEST_FORMAT};
pub use sink::{
    within, BoxReader, DeadlineExceeded, Deadlines, ObjectMeta, Sink, SinkError, SinkWriter,
    MAX_SMALL_OBJECT,
};
pub use source::{Dumped, Preflight, Source};
pub use store_error::{StoreError, StoreErrorKind};
pub use target::{FormatCheck, Report, RestoreOptions, Target};
pub use transform::spec::TransformSpec;
