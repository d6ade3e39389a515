//! The SQLite store of lifeboat: back up a live database file as one consistent snapshot,
//! restore it atomically, and check a backup's integrity.
//!
//! - [`SqliteSource`] copies the database with SQLite's online backup API in a single step,
//!   so a database that other processes keep writing to (WAL mode) yields one consistent
//!   snapshot; the dump (`sqlite-db`, extension `db`) is the database file itself, and the
//!   manifest metadata ([`SqliteMetadata`]) records the SQLite version, page size and count,
//!   size, `user_version`, the exact row count of every table and the number of indexes,
//!   views and triggers.
//! - [`SqliteTarget`] stages the stream beside the target file, checks it (header,
//!   `PRAGMA integrity_check`, row counts against the manifest) and renames it over the
//!   target only then; it never replaces an existing file without `--force`.
//! - [`SqliteCheck`] is the same check for `lifeboat verify`.
//!
//! Errors are [`SqliteError`]s (with the file and the [`Step`]) converted into
//! [`backup_core::StoreError`]s of the right kind.
//!
//! # Example
//!
//! ```
//! use backup_core::Source;
//! use store_sqlite::SqliteSource;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("app.db");
//! # rusqlite::Connection::open(&path)?
//! #     .execute_batch("CREATE TABLE items(id INTEGER PRIMARY KEY); INSERT INTO items DEFAULT VALUES;")?;
//! let source = SqliteSource::new(&path);
//! let preflight = source.preflight().await?;
//! println!("SQLite {:?}, about {:?} bytes", preflight.version, preflight.estimated_bytes);
//!
//! // Any tokio AsyncWrite will do; the backup pipeline passes its compressor here.
//! let mut dump = Vec::new();
//! let dumped = source.backup(&mut dump).await?;
//! assert_eq!(dumped.metadata["tables"]["items"], 1);
//! assert!(dump.starts_with(b"SQLite format 3\0"));
//! # Ok(())
//! # }
//! ```

mod check;
mod error;
mod files;
mod metadata;
mod options;
mod source;
mod store;
mod target;
mod verify;

pub use check::SqliteCheck;
pub use error::{SqliteError, Step};
pub use metadata::SqliteMetadata;
pub use options::SqliteOptions;
pub use source::SqliteSource;
pub use store::{Sqlite, DESCRIPTOR, FORMAT, FORMATS, KIND};
pub use target::SqliteTarget;
