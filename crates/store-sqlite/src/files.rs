//! File helpers: private temporary directories, opening database files, header checks.

use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use backup_core::leftovers::{scratch, DEFAULT_LEFTOVER_GRACE};
use rusqlite::{Connection, OpenFlags};
use tempfile::TempDir;

use crate::error::{SqliteError, Step};

/// Size of the buffers used to stream a copy in and out (memory stays bounded by this).
pub(crate) const IO_BUFFER: usize = 256 * 1024;

/// How long a connection waits for a lock before SQLite reports `SQLITE_BUSY`.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The first 16 bytes of every SQLite 3 database file.
pub(crate) const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Creates a private (mode 0700 on Unix) temporary directory under `parent`, or under the
/// system temporary directory. It is removed with everything in it when the [`TempDir`] drops,
/// on every path: success, error, panic or a cancelled future — but not when the process is
/// killed. So it is named `lifeboat-sqlite-<pid>-<random>` (`backup_core::leftovers::scratch`),
/// and the stale ones of killed runs in the same folder are removed first (and by `prune`).
pub(crate) fn private_temp_dir(parent: Option<&Path>) -> Result<TempDir, SqliteError> {
    let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
    scratch::collect_stale_scratch(&parent, DEFAULT_LEFTOVER_GRACE);
    let mut builder = tempfile::Builder::new();
    let prefix = scratch::scratch_prefix(crate::KIND);
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder
        .tempdir_in(&parent)
        .map_err(|err| SqliteError::io(Step::TempFiles, parent, err))
}

/// Removes a temporary directory now, logging (not failing on) an error: its content is
/// already used up, and a leftover in the temp dir must not fail a good backup or check.
pub(crate) fn remove_temp_dir(dir: TempDir) {
    let path = dir.path().to_path_buf();
    if let Err(err) = dir.close() {
        tracing::warn!(path = %path.display(), error = %err, "could not remove a temporary directory");
    }
}

/// Opens the live source database read-only: it is never created, never written.
pub(crate) fn open_source_read_only(path: &Path) -> Result<Connection, SqliteError> {
    // Check first so a missing file gets a plain message naming the path (a read-only open
    // never creates the file either way).
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(SqliteError::io(
                Step::Open,
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            ))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(SqliteError::SourceMissing {
                path: path.to_path_buf(),
            })
        }
        Err(err) => return Err(SqliteError::io(Step::Open, path, err)),
    }
    // No SQLITE_OPEN_URI, and a relative path that starts with `file:` is made explicit, so
    // the configured path is always taken as a file name (the bundled SQLite is built with
    // SQLITE_USE_URI).
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(plain_file_name(path), flags)
        .map_err(|err| classify_open_error(path, err))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|err| SqliteError::sqlite(Step::Open, path, err))?;
    Ok(conn)
}

/// Reads the schema once, so a file that is not a database is reported as such: SQLite opens
/// lazily, and "not a database" shows up at the first read rather than in `open`.
pub(crate) fn check_is_database(conn: &Connection, path: &Path) -> Result<(), SqliteError> {
    conn.query_row("SELECT count(*) FROM main.sqlite_schema", [], |_| Ok(()))
        .map_err(|err| classify_open_error(path, err))
}

fn classify_open_error(path: &Path, err: rusqlite::Error) -> SqliteError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => SqliteError::NotADatabase {
            path: path.to_path_buf(),
            source: err,
        },
        _ => SqliteError::sqlite(Step::Open, path, err),
    }
}

fn plain_file_name(path: &Path) -> PathBuf {
    if path.is_relative() && path.as_os_str().to_string_lossy().starts_with("file:") {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    }
}

/// Opens a private copy (a staged restore or a backup's snapshot) read-only and *immutable*:
/// nobody else can change it, so SQLite takes no locks and creates no `-wal`/`-shm` files
/// beside it, even when its header says WAL mode, and the file's bytes stay exactly as
/// streamed.
pub(crate) fn open_private_copy(path: &Path, step: Step) -> Result<Connection, SqliteError> {
    let absolute =
        std::path::absolute(path).map_err(|err| SqliteError::io(step, path.to_path_buf(), err))?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    Connection::open_with_flags(immutable_uri(&absolute), flags)
        .map_err(|err| SqliteError::sqlite(step, path, err))
}

/// `file://<percent-encoded absolute path>?immutable=1`. The empty authority keeps a path
/// starting with `//` a path.
fn immutable_uri(absolute: &Path) -> OsString {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        absolute.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = {
        let text = absolute.to_string_lossy().replace('\\', "/");
        if text.starts_with('/') {
            text.into_bytes()
        } else {
            format!("/{text}").into_bytes()
        }
    };
    OsString::from(format!(
        "file://{}?immutable=1",
        lifeboat_edge::percent::encode_path(&bytes)
    ))
}

/// Checks the 16-byte header magic of a staged file.
pub(crate) fn check_magic(path: &Path) -> Result<(), SqliteError> {
    let mut file =
        std::fs::File::open(path).map_err(|err| SqliteError::io(Step::Integrity, path, err))?;
    let mut magic = [0u8; 16];
    match file.read_exact(&mut magic) {
        Ok(()) if &magic == SQLITE_MAGIC => Ok(()),
        Ok(()) => Err(SqliteError::BadMagic),
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Err(SqliteError::BadMagic),
        Err(err) => Err(SqliteError::io(Step::Integrity, path, err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn private_temp_dirs_are_0700_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
        let dir = private_temp_dir(Some(parent.path())).unwrap_or_else(|err| panic!("{err}"));
        let mode = std::fs::metadata(dir.path())
            .map(|meta| meta.permissions().mode() & 0o777)
            .unwrap_or_default();
        assert_eq!(mode, 0o700);
        std::fs::write(dir.path().join("snapshot.db"), b"x").unwrap_or_else(|err| panic!("{err}"));
        remove_temp_dir(dir);
        assert_eq!(
            std::fs::read_dir(parent.path()).map(|d| d.count()).ok(),
            Some(0)
        );
    }

    #[test]
    fn uri_escapes_special_characters() {
        let uri = immutable_uri(Path::new("/tmp/a b/c?d#e%f.db"));
        assert_eq!(
            uri,
            OsString::from("file:///tmp/a%20b/c%3Fd%23e%25f.db?immutable=1")
        );
    }

    #[test]
    fn uri_keeps_double_slash_a_path() {
        let uri = immutable_uri(Path::new("//host/x.db"));
        assert_eq!(uri, OsString::from("file:////host/x.db?immutable=1"));
    }

    #[test]
    fn plain_names_never_look_like_uris() {
        assert_eq!(
            plain_file_name(Path::new("file:x.db")),
            Path::new("./file:x.db")
        );
        assert_eq!(
            plain_file_name(Path::new("/a/file:x")),
            Path::new("/a/file:x")
        );
    }
}
