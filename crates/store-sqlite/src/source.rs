//! [`SqliteSource`]: a consistent copy of a live SQLite database via the online backup API.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backup_core::{Preflight, Source, StoreError};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;
use tokio::io::{AsyncWrite, BufReader};

use crate::error::{SqliteError, Step};
use crate::files::{
    check_is_database, open_private_copy, open_source_read_only, private_temp_dir, remove_temp_dir,
    IO_BUFFER,
};
use crate::metadata::{pragma_u64, SqliteMetadata};

/// How long the online backup retries when it cannot get its read lock (`SQLITE_BUSY`).
const BUSY_RETRY_FOR: Duration = Duration::from_secs(60);
const BUSY_PAUSE: Duration = Duration::from_millis(50);

/// The file name of the snapshot inside its private temporary directory.
const SNAPSHOT_NAME: &str = "snapshot.db";

/// A SQLite database file to back up (`kind = "sqlite"` in the config).
///
/// The dump is the database file itself (`sqlite-db`, extension `db`), taken with SQLite's
/// online backup API so a database that other processes keep writing to is copied as one
/// consistent snapshot.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    path: PathBuf,
    temp_dir: Option<PathBuf>,
}

impl SqliteSource {
    /// A source for the database file at `path` (it is only ever opened read-only).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            temp_dir: None,
        }
    }

    /// Puts the backup's snapshot (a full copy of the database, removed afterwards) under
    /// `dir` instead of the system temporary directory, e.g. when `/tmp` is a small tmpfs.
    pub fn with_temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }

    /// The database file this source backs up.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Source for SqliteSource {
    fn kind(&self) -> &'static str {
        crate::KIND
    }

    fn dump_format(&self) -> &'static str {
        crate::FORMAT
    }

    fn extension(&self) -> &'static str {
        "db"
    }

    async fn preflight(&self) -> Result<Preflight, StoreError> {
        let path = self.path.clone();
        let preflight = tokio::task::spawn_blocking(move || preflight_blocking(&path))
            .await
            .map_err(|source| SqliteError::Task {
                step: Step::Preflight,
                source,
            })??;
        Ok(preflight)
    }

    async fn backup(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<backup_core::Dumped, StoreError> {
        // The online backup API writes into a destination *database*, so this is the one place
        // a backup needs a temporary file: a full copy in a private (0700) directory, removed
        // when `temp_dir` drops, on every path including errors, panics and cancellation.
        let temp_dir = private_temp_dir(self.temp_dir.as_deref())?;
        let snapshot = temp_dir.path().join(SNAPSHOT_NAME);

        let source_path = self.path.clone();
        let snapshot_path = snapshot.clone();
        // The blocking task owns the directory while it runs, so if this future is dropped the
        // directory is removed only once SQLite has stopped writing into it.
        let (temp_dir, metadata) = tokio::task::spawn_blocking(move || {
            let result = snapshot_blocking(&source_path, &snapshot_path);
            (temp_dir, result)
        })
        .await
        .map_err(|source| SqliteError::Task {
            step: Step::Backup,
            source,
        })?;
        let metadata = metadata?;

        stream_copy(&snapshot, metadata.size_bytes, out).await?;
        remove_temp_dir(temp_dir);
        tracing::debug!(
            path = %self.path.display(),
            bytes = metadata.size_bytes,
            tables = metadata.tables.len(),
            "sqlite backup streamed"
        );
        backup_core::Dumped::new(&metadata)
    }
}

fn preflight_blocking(path: &Path) -> Result<Preflight, SqliteError> {
    let conn = open_source_read_only(path)?;
    check_is_database(&conn, path)?;
    let err = |source| SqliteError::sqlite(Step::Preflight, path, source);
    let page_size = pragma_u64(&conn, "page_size").map_err(err)?;
    let page_count = pragma_u64(&conn, "page_count").map_err(err)?;
    let version: String = conn
        .query_row("SELECT sqlite_version()", [], |row| row.get(0))
        .map_err(err)?;
    let journal_mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .map_err(err)?;
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(err)?;
    let estimated_bytes = page_count.saturating_mul(page_size);
    Ok(Preflight {
        version: Some(version),
        estimated_bytes: Some(estimated_bytes),
        details: serde_json::json!({
            "path": path.display().to_string(),
            "journal_mode": journal_mode,
            "user_version": user_version,
            "page_size": page_size,
            "page_count": page_count,
        }),
    })
}

/// Copies the live database at `source` into a new database file at `snapshot` and reads the
/// copy's metadata.
fn snapshot_blocking(source: &Path, snapshot: &Path) -> Result<SqliteMetadata, SqliteError> {
    let src = open_source_read_only(source)?;
    check_is_database(&src, source)?;

    let mut dst =
        Connection::open(snapshot).map_err(|err| SqliteError::sqlite(Step::Open, snapshot, err))?;
    copy_all_pages(&src, &mut dst, source)?;
    drop(src);
    dst.close()
        .map_err(|(_, err)| SqliteError::sqlite(Step::Backup, snapshot, err))?;

    // The metadata is read from the copy, so it describes exactly the bytes that are streamed.
    let copy = open_private_copy(snapshot, Step::Metadata)?;
    SqliteMetadata::read(&copy, snapshot, Step::Metadata)
}

/// Runs the online backup from `src` into `dst` in a single step.
///
/// `step(-1)` copies every page while holding *one* read transaction on the source. Copying
/// in chunks (`step(n)`) would release the read lock between chunks, and SQLite restarts a
/// backup from the first page whenever another connection writes to the source in between: under
/// a steady writer such a backup may never finish. In one step the copy is a single snapshot:
/// in WAL mode, writers keep committing meanwhile (they only append to the WAL, and checkpoints
/// stop at our read mark); in rollback-journal mode, writers wait for the copy (the
/// connection's busy timeout), as with any long reader.
fn copy_all_pages(src: &Connection, dst: &mut Connection, path: &Path) -> Result<(), SqliteError> {
    let err = |source| SqliteError::sqlite(Step::Backup, path, source);
    let backup = Backup::new(src, dst).map_err(err)?;
    let started = Instant::now();
    loop {
        match backup.step(-1).map_err(err)? {
            StepResult::Done => return Ok(()),
            // Not reached with -1 (it copies everything or fails); stepping again continues.
            StepResult::More => {}
            // Busy or Locked: the read lock could not be taken (e.g. WAL recovery by another
            // connection, or a writer in rollback mode beyond the busy timeout), so nothing
            // was copied yet; retry for a while.
            _ => {
                if started.elapsed() >= BUSY_RETRY_FOR {
                    return Err(SqliteError::Busy {
                        path: path.to_path_buf(),
                        waited_secs: started.elapsed().as_secs(),
                    });
                }
                std::thread::sleep(BUSY_PAUSE);
            }
        }
    }
}

/// Streams the copy into `out` through a bounded buffer; checks that every byte was sent.
async fn stream_copy(
    snapshot: &Path,
    expected: u64,
    out: &mut (dyn AsyncWrite + Send + Unpin),
) -> Result<(), SqliteError> {
    let file = tokio::fs::File::open(snapshot)
        .await
        .map_err(|source| SqliteError::io(Step::Stream, snapshot, source))?;
    let mut reader = BufReader::with_capacity(IO_BUFFER, file);
    // `out` is not shut down: the pipeline finishes its stages itself.
    let sent = tokio::io::copy_buf(&mut reader, out)
        .await
        .map_err(|source| SqliteError::io(Step::Stream, snapshot, source))?;
    if sent != expected {
        return Err(SqliteError::CopyChanged {
            path: snapshot.to_path_buf(),
            expected,
            actual: sent,
        });
    }
    Ok(())
}
