//! [`SqliteError`]: what went wrong, on which file, at which step; and how it maps onto the
//! pipeline's [`StoreError`] kinds.

use std::fmt;
use std::io;
use std::path::PathBuf;

use backup_core::{ManifestError, StoreError, StoreErrorKind};
use lifeboat_edge::staged::StageError;
use rusqlite::ErrorCode;

/// The step of a backup, restore or check an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Opening a database file.
    Open,
    /// Reading the source's size and settings for `lifeboat check`.
    Preflight,
    /// Copying the live database with SQLite's online backup API.
    Backup,
    /// Reading the metadata (tables, row counts, schema objects) of a copy.
    Metadata,
    /// Streaming the copy into the backup pipeline.
    Stream,
    /// Writing the incoming stream into a staging file.
    Stage,
    /// Checking a staged copy (header, `PRAGMA integrity_check`, row counts).
    Integrity,
    /// Renaming the verified copy over the restore target.
    Rename,
    /// Creating or removing temporary files and directories.
    TempFiles,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Open => "open",
            Step::Preflight => "preflight",
            Step::Backup => "online backup",
            Step::Metadata => "metadata",
            Step::Stream => "streaming the copy",
            Step::Stage => "staging the restore stream",
            Step::Integrity => "integrity check",
            Step::Rename => "rename",
            Step::TempFiles => "temporary files",
        })
    }
}

/// An error of the SQLite store, with the file and the step it concerns.
///
/// Converts into a [`StoreError`] with the matching [`StoreErrorKind`] (see
/// [`SqliteError::kind`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The configured source database does not exist (it is never created).
    #[error("SQLite database {} does not exist", path.display())]
    SourceMissing {
        /// The configured path.
        path: PathBuf,
    },

    /// The configured source path exists but is not a SQLite database.
    #[error("{} is not a SQLite database: {source}", path.display())]
    NotADatabase {
        /// The configured path.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },

    /// SQLite failed on a file at some step.
    #[error("SQLite {step} of {} failed: {source}", path.display())]
    Sqlite {
        /// The step that failed.
        step: Step,
        /// The database file concerned.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },

    /// The online backup could not get a read lock on the source in time.
    #[error(
        "online backup of {} gave up: the database stayed locked for {waited_secs}s",
        path.display()
    )]
    Busy {
        /// The source database.
        path: PathBuf,
        /// How long the backup retried.
        waited_secs: u64,
    },

    /// A file-system operation failed.
    #[error("{step} failed for {}: {source}", path.display())]
    Io {
        /// The step that failed.
        step: Step,
        /// The file or directory concerned.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// Reading the restore (or verify) input stream failed before its end.
    #[error("reading the backup stream into {} failed: {source}", path.display())]
    Input {
        /// The staging file the stream was written to.
        path: PathBuf,
        /// The error the stream reported (an `InvalidData` error means a bad artifact).
        source: io::Error,
    },

    /// The streamed copy changed size while being sent (should never happen: it is private).
    #[error("the copy {} changed while streaming: expected {expected} bytes, sent {actual}", path.display())]
    CopyChanged {
        /// The private copy.
        path: PathBuf,
        /// Its size after the backup.
        expected: u64,
        /// The bytes actually streamed.
        actual: u64,
    },

    /// The stream does not start with the SQLite header magic.
    #[error("the backup stream is not a SQLite database (no `SQLite format 3` header)")]
    BadMagic,

    /// `PRAGMA integrity_check` reported problems.
    #[error("integrity check of the restored database failed: {}", messages.join("; "))]
    Integrity {
        /// The first messages of `PRAGMA integrity_check`.
        messages: Vec<String>,
    },

    /// The restored file's size differs from the manifest's `size_bytes`.
    #[error("the restored database has {actual} bytes, the manifest says {expected}")]
    SizeMismatch {
        /// `size_bytes` from the manifest metadata.
        expected: u64,
        /// The restored file's size.
        actual: u64,
    },

    /// A table's row count differs from the manifest, or the table is missing or unexpected.
    #[error(
        "table `{table}`: the manifest says {}, the restored database has {}",
        rows_text(*expected),
        rows_text(*actual)
    )]
    RowCount {
        /// The table's name.
        table: String,
        /// Rows according to the manifest (`None`: not in the manifest).
        expected: Option<u64>,
        /// Rows in the restored copy (`None`: no such table).
        actual: Option<u64>,
    },

    /// The manifest metadata is not of the shape this store writes.
    #[error(transparent)]
    BadManifest {
        /// What is wrong with it.
        source: ManifestError,
    },

    /// The restore target exists (or has leftover `-wal`/`-journal` files) and `--force` was not
    /// given.
    #[error(
        "restore target {} already exists; nothing was changed (use --force to overwrite it)",
        path.display()
    )]
    TargetExists {
        /// The existing file.
        path: PathBuf,
    },

    /// A `-wal` or `-journal` file is left beside a restore target that does not exist:
    /// SQLite would replay it into the restored database.
    #[error(
        "{} is left over beside the restore target; SQLite would replay it into the restored \
         database, so nothing was changed (use --force to remove it)",
        path.display()
    )]
    StaleJournal {
        /// The leftover file.
        path: PathBuf,
    },

    /// Staging the restored file beside the target, or renaming it into place, failed.
    #[error(transparent)]
    Stage(#[from] StageError),

    /// The restore target is a directory, not a file path.
    #[error("restore target {} is a directory; give the path of a database file", path.display())]
    TargetIsDirectory {
        /// The target path.
        path: PathBuf,
    },

    /// A blocking task panicked or was cancelled.
    #[error("the {step} task did not complete: {source}")]
    Task {
        /// The step the task ran.
        step: Step,
        /// The join error.
        source: tokio::task::JoinError,
    },
}

fn rows_text(rows: Option<u64>) -> String {
    match rows {
        Some(1) => "1 row".to_string(),
        Some(n) => format!("{n} rows"),
        None => "no such table".to_string(),
    }
}

impl SqliteError {
    /// The [`StoreErrorKind`] this error maps to (and so the CLI's exit code).
    ///
    /// - `Config`: a missing source file, a path that is not a database, a directory as target;
    /// - `TargetNotEmpty`: the target (or a leftover journal of it) exists and `--force` was not
    ///   given;
    /// - `Corrupt`: the artifact is not a sound SQLite database or does not match its manifest
    ///   (bad header, integrity check, row counts, size, SQLite reporting corruption while
    ///   checking it, or an `InvalidData` error from the stream);
    /// - `Failed`: everything else (I/O, locks, a panicked task).
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            SqliteError::SourceMissing { .. }
            | SqliteError::NotADatabase { .. }
            | SqliteError::TargetIsDirectory { .. } => StoreErrorKind::Config,
            SqliteError::TargetExists { .. } | SqliteError::StaleJournal { .. } => {
                StoreErrorKind::TargetNotEmpty
            }
            SqliteError::BadMagic
            | SqliteError::Integrity { .. }
            | SqliteError::SizeMismatch { .. }
            | SqliteError::RowCount { .. }
            | SqliteError::BadManifest { .. } => StoreErrorKind::Corrupt,
            SqliteError::Input { source, .. } if source.kind() == io::ErrorKind::InvalidData => {
                StoreErrorKind::Corrupt
            }
            SqliteError::Sqlite {
                step: Step::Integrity,
                source,
                ..
            } if !is_environmental(source) => StoreErrorKind::Corrupt,
            _ => StoreErrorKind::Failed,
        }
    }

    /// A SQLite error at `step` on `path`.
    pub(crate) fn sqlite(step: Step, path: impl Into<PathBuf>, source: rusqlite::Error) -> Self {
        SqliteError::Sqlite {
            step,
            path: path.into(),
            source,
        }
    }

    /// An I/O error at `step` on `path`.
    pub(crate) fn io(step: Step, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SqliteError::Io {
            step,
            path: path.into(),
            source,
        }
    }
}

/// Whether a SQLite error while checking a staged copy says something about the machine (disk
/// full, out of memory, permissions) rather than about the copy. Any other error while reading
/// a copy we just wrote means its content is bad.
fn is_environmental(err: &rusqlite::Error) -> bool {
    match err.sqlite_error_code() {
        Some(code) => matches!(
            code,
            ErrorCode::CannotOpen
                | ErrorCode::SystemIoFailure
                | ErrorCode::OutOfMemory
                | ErrorCode::DiskFull
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::OperationInterrupted
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::NoLargeFileSupport
        ),
        // Not an error SQLite returned (a Rust-side conversion): not the file's fault.
        None => true,
    }
}

impl From<SqliteError> for StoreError {
    fn from(err: SqliteError) -> Self {
        StoreError::new(err.kind(), err)
    }
}
