//! [`SqliteTarget`]: restores a `sqlite-db` dump to a file path, atomically.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use backup_core::{Manifest, Report, RestoreOptions, StoreError, Target};
use lifeboat_edge::staged::{Replace, StageError, StagedFile};
use tokio::io::AsyncRead;

use crate::error::{SqliteError, Step};
use crate::metadata::SqliteMetadata;
use crate::verify::{stage_stream, verify_file, Verified};

/// The staged restore's mode: the restored database is private to its owner.
const STAGE_MODE: u32 = 0o600;

/// The files SQLite keeps beside a database. A `-wal` or `-journal` left beside the restored
/// file would be replayed into it (a stale WAL applied to a different database corrupts it);
/// a `-shm` is only an index of the WAL.
const SIDECARS: [&str; 3] = ["-wal", "-journal", "-shm"];

/// Restores a SQLite backup to a database file.
///
/// The stream is written to a hidden staging file *beside* the target (same directory, mode
/// 0600; a [`StagedFile`]), read to EOF and checked (header, `PRAGMA integrity_check`, row
/// counts and size against the manifest), and only then renamed over the target, so the target
/// is either untouched or completely replaced (the file and its folder are fsynced). Missing
/// parent directories are created (mode 0700 on Unix); they stay if the restore then fails. The restored file keeps the staging file's
/// mode, 0600 on Unix (a replaced file's mode and owner are not carried over). A symbolic
/// link at the target path is replaced by the file, not followed.
///
/// Stop the applications that use the target before restoring over it with `--force`: a
/// process holding the old file open keeps using the old data.
#[derive(Debug, Clone)]
pub struct SqliteTarget {
    path: PathBuf,
}

impl SqliteTarget {
    /// A target that restores to the database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The database file this target restores to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the target lives in (`.` for a bare file name).
    fn parent(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// Refuses a directory, and (without `force`) an existing target or a leftover journal.
    fn check_target(&self, force: bool) -> Result<(), SqliteError> {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.is_dir() => {
                return Err(SqliteError::TargetIsDirectory {
                    path: self.path.clone(),
                })
            }
            Ok(_) if !force => {
                return Err(SqliteError::TargetExists {
                    path: self.path.clone(),
                })
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(SqliteError::io(Step::Open, &self.path, err)),
        }
        if self.path.file_name().is_none() {
            return Err(SqliteError::TargetIsDirectory {
                path: self.path.clone(),
            });
        }
        if !force {
            for sidecar in sidecars(&self.path).into_iter().take(2) {
                if sidecar.symlink_metadata().is_ok() {
                    return Err(SqliteError::StaleJournal { path: sidecar });
                }
            }
        }
        Ok(())
    }

    fn create_parent(&self) -> Result<(), SqliteError> {
        let parent = self.parent();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(parent)
            .map_err(|err| SqliteError::io(Step::Stage, parent, err))
    }

    async fn restore_inner(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<Report, SqliteError> {
        let expected = SqliteMetadata::of(manifest)?;
        self.check_target(options.force)?;
        self.create_parent()?;

        // Beside the target, so the final rename is atomic; removed when dropped: on every
        // error, a panic, or if this future is dropped.
        let staged = StagedFile::beside(&self.path, STAGE_MODE)?;
        let mut file = staged.tokio_file()?;
        let bytes = stage_stream(input, &mut file, staged.path()).await?;
        drop(file);

        // Checking and renaming block; the task owns the staging file. If this future is
        // dropped meanwhile, the task sees `cancelled` and drops (removes) the file instead of
        // committing it.
        let cancelled = CancelOnDrop::new();
        let flag = Arc::clone(&cancelled.flag);
        let target = self.path.clone();
        let force = options.force;
        let (verified, committed) = tokio::task::spawn_blocking(move || {
            let verified = verify_file(staged.path(), expected.as_ref())?;
            if flag.load(Ordering::SeqCst) {
                return Err(SqliteError::io(
                    Step::Rename,
                    &target,
                    io::Error::new(io::ErrorKind::Interrupted, "the restore was cancelled"),
                ));
            }
            let committed = commit(staged, &target, force)?;
            Ok::<_, SqliteError>((verified, committed))
        })
        .await
        .map_err(|source| SqliteError::Task {
            step: Step::Integrity,
            source,
        })??;
        cancelled.disarm();

        Ok(report(&self.path, bytes, &verified, &committed))
    }
}

#[async_trait]
impl Target for SqliteTarget {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn prepare(
        &self,
        _manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<(), StoreError> {
        self.check_target(options.force)?;
        Ok(())
    }

    async fn restore(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        Ok(self.restore_inner(input, manifest, options).await?)
    }
}

/// `path-wal`, `path-journal`, `path-shm`.
fn sidecars(path: &Path) -> Vec<PathBuf> {
    SIDECARS
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

/// Moves the verified staging file to `target`. Without `force` the rename refuses to replace
/// a file that appeared meanwhile. With `force`, the target's `-wal`/`-journal`/`-shm` files
/// are first moved aside (SQLite would replay a stale WAL or journal into the new file), put
/// back if the rename fails, and deleted once it succeeded.
fn commit(staged: StagedFile, target: &Path, force: bool) -> Result<Committed, SqliteError> {
    let staged_path = staged.path().to_path_buf();
    let staged_id = file_id(&staged_path);

    let mut aside = Vec::new();
    if force {
        for (sidecar, suffix) in sidecars(target).into_iter().zip(SIDECARS) {
            if sidecar.symlink_metadata().is_err() {
                continue;
            }
            let mut moved = staged_path.as_os_str().to_owned();
            moved.push(format!(".stale{suffix}"));
            let moved = PathBuf::from(moved);
            if let Err(err) = std::fs::rename(&sidecar, &moved) {
                put_back(&aside);
                return Err(SqliteError::io(Step::Rename, sidecar, err));
            }
            aside.push((sidecar, moved));
        }
    }

    let replaced = target.symlink_metadata().is_ok();
    let replace = if force {
        Replace::Always
    } else {
        Replace::Never
    };
    if let Err(err) = staged.commit(replace) {
        // Only syncing the folder can fail after the rename: the new file is then in place, so
        // the stale files must go, not come back, and the failed sync is only a warning.
        if staged_id.is_some() && file_id(target) == staged_id {
            tracing::warn!(path = %target.display(), error = %err, "could not fsync the restore directory");
        } else {
            // The stage is removed by now.
            put_back(&aside);
            return Err(match err {
                StageError::Exists { .. } => SqliteError::TargetExists {
                    path: target.to_path_buf(),
                },
                err => err.into(),
            });
        }
    }

    let mut removed = Vec::new();
    for (sidecar, moved) in aside {
        if let Err(err) = std::fs::remove_file(&moved) {
            tracing::warn!(path = %moved.display(), error = %err, "could not remove a stale SQLite file");
        }
        removed.push(sidecar);
    }
    Ok(Committed { replaced, removed })
}

/// The identity of the file at `path` (device and inode), to tell after a failed commit
/// whether the stage was renamed into place. `None` where it cannot be known (not Unix, where
/// nothing fails after the rename anyway).
fn file_id(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// What [`commit`] did.
struct Committed {
    /// Whether an existing target file was replaced.
    replaced: bool,
    /// The stale `-wal`/`-journal`/`-shm` files of the old target that were removed.
    removed: Vec<PathBuf>,
}

fn put_back(aside: &[(PathBuf, PathBuf)]) {
    for (sidecar, moved) in aside {
        if let Err(err) = std::fs::rename(moved, sidecar) {
            tracing::warn!(
                path = %sidecar.display(),
                moved_to = %moved.display(),
                error = %err,
                "could not put a SQLite journal file back"
            );
        }
    }
}

fn report(path: &Path, bytes: u64, verified: &Verified, committed: &Committed) -> Report {
    let mut details = verified.details();
    if let Some(object) = details.as_object_mut() {
        object.insert("path".into(), path.display().to_string().into());
        object.insert("bytes".into(), bytes.into());
        object.insert("replaced".into(), committed.replaced.into());
        object.insert(
            "removed_stale_files".into(),
            committed
                .removed
                .iter()
                .map(|p| serde_json::Value::from(p.display().to_string()))
                .collect(),
        );
    }
    Report {
        summary: format!("restored {} to {}", verified.tables_text(), path.display()),
        details,
    }
}

/// Sets its flag when dropped, unless disarmed: tells a blocking task its caller is gone.
struct CancelOnDrop {
    flag: Arc<AtomicBool>,
    armed: bool,
}

impl CancelOnDrop {
    fn new() -> Self {
        Self {
            flag: Arc::new(AtomicBool::new(false)),
            armed: true,
        }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}
