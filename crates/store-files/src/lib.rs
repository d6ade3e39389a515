//! # store-files
//!
//! lifeboat's files store: configuration, certificate and log paths backed up as one tar
//! stream, and restored into a directory without ever writing outside it.
//!
//! - [`FilesSource`] (`kind = "files"`, dump format `tar`): each configured path becomes a
//!   top-level entry named after its last component (`./config` → `config/...`). The walk is
//!   sorted, never follows symlinks (they are stored as links), keeps empty directories, modes
//!   and mtimes, skips what `exclude` matches, and streams files through a bounded pipe. A file
//!   that cannot be read fails the backup, naming it.
//! - [`FilesTarget`]: extracts into a staging directory beside the target, reading the stream
//!   to its EOF and checking it against the manifest before renaming it into place. Absolute
//!   paths, `..`, paths below symlinks, paths stored twice and device nodes are refused as
//!   corrupt, never silently skipped. Owners (and setuid, setgid, sticky bits) are restored
//!   only with `preserve_owner`.
//! - [`FilesCheck`]: the same checks without writing anything, for `verify`.
//!
//! The manifest metadata a backup records is a [`FilesMetadata`]:
//!
//! ```json
//! {"files": 12, "dirs": 3, "symlinks": 1, "bytes": 48213,
//!  "paths": ["./config", "./certs"], "exclude": ["*.tmp"]}
//! ```
//!
//! ## Example
//!
//! ```
//! use backup_core::{RestoreOptions, Source, Target};
//! use store_files::{FilesSource, FilesTarget};
//! # use lifeboat_testing::manifest;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("config"))?;
//! std::fs::write(dir.path().join("config/app.toml"), "port = 8080\n")?;
//! std::fs::write(dir.path().join("config/scratch.tmp"), "ignored")?;
//!
//! let source = FilesSource::new(vec![dir.path().join("config")], vec!["*.tmp".into()])?;
//! let mut tar = Vec::new();
//! let metadata = source.backup(&mut tar).await?.metadata;
//! assert_eq!(metadata["files"], 1);
//!
//! // The pipeline normally hands restore the manifest written at backup time.
//! let target = FilesTarget::new(dir.path().join("restored"));
//! let report = target
//!     .restore(&mut &tar[..], &manifest("files", "tar", metadata), &RestoreOptions::default())
//!     .await?;
//! assert_eq!(report.summary, format!("restored 1 file, 1 dir, 0 symlinks to {}", target.describe()));
//! assert!(dir.path().join("restored/config/app.toml").exists());
//! # Ok(())
//! # }
//! ```
//!
//! Unix only: modes, symlinks and raw byte file names are part of the format.

mod archive;
mod check;
mod counts;
mod entry_order;
mod entry_path;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod metadata;
mod options;
mod source;
mod store;
mod stream;
mod target;
mod walk;

pub use check::FilesCheck;
pub use error::FilesError;
pub use metadata::FilesMetadata;
pub use options::FilesOptions;
pub use source::FilesSource;
pub use store::{Files, DESCRIPTOR, FORMAT, FORMATS, KIND};
pub use target::FilesTarget;
