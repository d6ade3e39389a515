//! Staged writes: a file or directory is written beside its final path (same folder, so the
//! rename is atomic), made durable, and only then renamed into place, so a reader sees the old
//! content or the new, never half of it. Dropping a stage before [`StagedFile::commit`] or
//! [`StagedDir::commit`] removes it: a failed or cancelled restore leaves nothing behind.
//! A killed one cannot clean up: the next stage beside the same target removes the stages
//! untouched for [`STALE_STAGE_AGE`] (see [`sweep_stale_stages`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tempfile::{NamedTempFile, TempDir};

/// Whether a commit may replace what exists at the final path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Refuse when something exists there ([`StageError::Exists`]); checked atomically for
    /// files (a hard link that fails on an existing name).
    Never,
    /// Replace it.
    Always,
}

/// A staged write that failed; nothing was renamed into place unless said otherwise.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The final path has no parent folder or no file name.
    #[error("{path} is not a path to a file or folder that can be staged")]
    BadPath {
        /// The final path.
        path: PathBuf,
    },
    /// A step on the stage or its folder failed.
    #[error("cannot {step} {path}: {source}")]
    Io {
        /// What was done, e.g. `create a staging file in`.
        step: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// Something exists at the final path and the commit was [`Replace::Never`].
    #[error("{path} already exists")]
    Exists {
        /// The final path.
        path: PathBuf,
    },
    /// A directory swap failed after the existing directory was moved aside, and it could
    /// not be moved back: it is kept at `kept`.
    #[error(
        "cannot rename the staged directory to {target} ({source}); its previous content is \
         kept at {kept}"
    )]
    SwapFailed {
        /// The final path.
        target: PathBuf,
        /// Where the previous content is.
        kept: PathBuf,
        /// Why the rename failed.
        #[source]
        source: io::Error,
    },
}

impl StageError {
    fn io<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Self + 'a {
        move |source| Self::Io {
            step,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The folder a path lives in (`.` for a bare file name).
fn parent_of(path: &Path) -> Result<&Path, StageError> {
    match path.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Ok(Path::new(".")),
        Some(parent) => Ok(parent),
        None => Err(StageError::BadPath {
            path: path.to_path_buf(),
        }),
    }
}

/// The hidden stage name prefix for `target`: `.<name>.lifeboat-`.
fn stage_prefix(target: &Path) -> Result<String, StageError> {
    let name = target.file_name().ok_or_else(|| StageError::BadPath {
        path: target.to_path_buf(),
    })?;
    Ok(format!(".{}.lifeboat-", name.to_string_lossy()))
}

/// How long a stage must have gone unmodified before the next stage beside the same target
/// takes it for the leftover of a killed run: a day, the default grace of `prune` for
/// storage leftovers (README, "Configuration"). A live stage is written to as it fills.
pub const STALE_STAGE_AGE: Duration = Duration::from_secs(24 * 3600);

/// Removes the stages beside `target` (`.<name>.lifeboat-*`, files or folders) last modified
/// more than `older_than` ago, and returns their paths. A stage that cannot be read or
/// removed is kept with a warning: the sweep never fails the stage that runs it. Only our
/// own prefix is matched; the folder a replaced directory is moved aside to
/// (`.lifeboat-old-*`) is never touched.
pub fn sweep_stale_stages(target: &Path, older_than: Duration) -> Vec<PathBuf> {
    let (Ok(parent), Ok(prefix)) = (parent_of(target), stage_prefix(target)) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let stale = fs::symlink_metadata(&path)
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > older_than);
        if !stale {
            continue;
        }
        let result = match entry.file_type() {
            Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        match result {
            Ok(()) => {
                tracing::warn!(stage = %path.display(), "removed the stage of a killed run");
                removed.push(path);
            }
            Err(err) => {
                tracing::warn!(stage = %path.display(), error = %err, "cannot remove a stale stage");
            }
        }
    }
    removed
}

/// Makes a rename in `dir` durable (Unix; elsewhere a no-op).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Set after creation: a mode given at creation is filtered by the umask.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// A file being written beside `target`, hidden (`.<name>.lifeboat-XXXXXX.tmp`) and private
/// until committed.
///
/// ```
/// use lifeboat_edge::staged::{Replace, StagedFile};
/// use std::io::Write;
///
/// let dir = tempfile::tempdir()?;
/// let target = dir.path().join("app.db");
/// let mut staged = StagedFile::beside(&target, 0o600)?;
/// staged.as_file_mut().write_all(b"new content")?;
/// staged.commit(Replace::Never)?;
/// assert_eq!(std::fs::read(&target)?, b"new content");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StagedFile {
    temp: NamedTempFile,
    target: PathBuf,
}

impl StagedFile {
    /// Creates the stage in `target`'s folder with `mode` (e.g. `0o600`; exact, whatever the
    /// umask).
    pub fn beside(target: &Path, mode: u32) -> Result<Self, StageError> {
        let dir = parent_of(target)?;
        sweep_stale_stages(target, STALE_STAGE_AGE);
        let temp = tempfile::Builder::new()
            .prefix(&stage_prefix(target)?)
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(StageError::io("create a staging file in", dir))?;
        set_mode(temp.path(), mode).map_err(StageError::io("set the mode of", temp.path()))?;
        Ok(Self {
            temp,
            target: target.to_path_buf(),
        })
    }

    /// The stage's own path (to hand to a tool that writes or checks it).
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The open stage, for blocking writes.
    pub fn as_file_mut(&mut self) -> &mut fs::File {
        self.temp.as_file_mut()
    }

    /// A second handle on the stage for async writes (it shares the file offset).
    pub fn tokio_file(&self) -> Result<tokio::fs::File, StageError> {
        let file = self
            .temp
            .as_file()
            .try_clone()
            .map_err(StageError::io("open", self.temp.path()))?;
        Ok(tokio::fs::File::from_std(file))
    }

    /// Syncs the stage, renames it to the final path (with [`Replace::Never`], only if nothing
    /// is there) and syncs the folder, so the new content survives a crash.
    pub fn commit(self, replace: Replace) -> Result<(), StageError> {
        self.temp
            .as_file()
            .sync_all()
            .map_err(StageError::io("sync", self.temp.path()))?;
        let target = self.target;
        let persisted = match replace {
            Replace::Always => self.temp.persist(&target),
            Replace::Never => self.temp.persist_noclobber(&target),
        };
        if let Err(err) = persisted {
            return Err(match err.error.kind() {
                io::ErrorKind::AlreadyExists => StageError::Exists { path: target },
                _ => StageError::Io {
                    step: "rename the staged file to",
                    path: target,
                    source: err.error,
                },
            });
        }
        let dir = parent_of(&target)?;
        sync_dir(dir).map_err(StageError::io("sync the folder", dir))
    }
}

/// Writes `data` to `path` through a [`StagedFile`] with `mode`, replacing what is there.
pub fn write_atomically(path: &Path, data: &[u8], mode: u32) -> Result<(), StageError> {
    use std::io::Write;
    let mut staged = StagedFile::beside(path, mode)?;
    staged
        .as_file_mut()
        .write_all(data)
        .map_err(StageError::io("write", path))?;
    staged.commit(Replace::Always)
}

/// A directory being filled beside `target` (`.<name>.lifeboat-XXXXXX`, mode 0700), renamed
/// into place on commit.
#[derive(Debug)]
pub struct StagedDir {
    dir: TempDir,
    target: PathBuf,
}

impl StagedDir {
    /// Creates the stage in `target`'s folder (which must exist).
    pub fn beside(target: &Path) -> Result<Self, StageError> {
        let parent = parent_of(target)?;
        sweep_stale_stages(target, STALE_STAGE_AGE);
        let dir = tempfile::Builder::new()
            .prefix(&stage_prefix(target)?)
            .tempdir_in(parent)
            .map_err(StageError::io("create a staging folder in", parent))?;
        set_mode(dir.path(), 0o700).map_err(StageError::io("set the mode of", dir.path()))?;
        Ok(Self {
            dir,
            target: target.to_path_buf(),
        })
    }

    /// The stage's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Renames the stage to the final path and syncs the folder. With [`Replace::Always`] an
    /// existing target is first moved aside, and removed only once the stage is in place; if
    /// that rename fails it is moved back (or, failing that too, kept and named in
    /// [`StageError::SwapFailed`]).
    pub fn commit(self, replace: Replace) -> Result<(), StageError> {
        let target = self.target.clone();
        let parent = parent_of(&target)?.to_path_buf();
        let exists = match fs::symlink_metadata(&target) {
            Ok(_) => true,
            Err(err) if err.kind() == io::ErrorKind::NotFound => false,
            Err(source) => {
                return Err(StageError::Io {
                    step: "inspect",
                    path: target,
                    source,
                })
            }
        };
        if !exists {
            fs::rename(self.dir.path(), &target)
                .map_err(StageError::io("rename the staged folder to", &target))?;
            let _ = self.dir.keep();
            return sync_dir(&parent).map_err(StageError::io("sync the folder", &parent));
        }
        if replace == Replace::Never {
            return Err(StageError::Exists { path: target });
        }
        let aside = tempfile::Builder::new()
            .prefix(".lifeboat-old-")
            .tempdir_in(&parent)
            .map_err(StageError::io("create a folder in", &parent))?;
        let old = aside.path().join("old");
        fs::rename(&target, &old).map_err(StageError::io("move aside", &target))?;
        if let Err(source) = fs::rename(self.dir.path(), &target) {
            if fs::rename(&old, &target).is_err() {
                return Err(StageError::SwapFailed {
                    target,
                    kept: aside.keep().join("old"),
                    source,
                });
            }
            return Err(StageError::Io {
                step: "rename the staged folder to",
                path: target,
                source,
            });
        }
        let _ = self.dir.keep();
        sync_dir(&parent).map_err(StageError::io("sync the folder", &parent))?;
        if let Err(err) = aside.close() {
            tracing::warn!(
                target = %target.display(),
                error = %err,
                "the new content is in place, but the previous content could not be fully removed"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_appears_only_on_commit_and_never_clobbers_unless_told() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dump.rdb");
        let mut staged = StagedFile::beside(&target, 0o600).unwrap();
        staged.as_file_mut().write_all(b"one").unwrap();
        assert!(!target.exists());
        staged.commit(Replace::Never).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"one");

        let mut again = StagedFile::beside(&target, 0o600).unwrap();
        again.as_file_mut().write_all(b"two").unwrap();
        assert!(matches!(
            again.commit(Replace::Never),
            Err(StageError::Exists { .. })
        ));
        assert_eq!(fs::read(&target).unwrap(), b"one");
        assert_eq!(
            names(dir.path()),
            ["dump.rdb"],
            "the refused stage is removed"
        );

        write_atomically(&target, b"three", 0o644).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"three");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644);
        }
    }

    #[test]
    fn a_dropped_stage_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("app.db");
        let staged = StagedFile::beside(&target, 0o600).unwrap();
        let staged_dir = StagedDir::beside(&dir.path().join("files")).unwrap();
        fs::write(staged_dir.path().join("a"), b"x").unwrap();
        drop((staged, staged_dir));
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn stale_stages_of_killed_runs_are_swept_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("files");
        // Two stages a killed run left (a file and a folder), one of another target, a
        // folder a swap moved aside, and a live stage.
        let old_file = dir.path().join(".files.lifeboat-abc123.tmp");
        let old_dir = dir.path().join(".files.lifeboat-def456");
        let other = dir.path().join(".app.db.lifeboat-xyz.tmp");
        let aside = dir.path().join(".lifeboat-old-ghi789");
        fs::write(&old_file, b"x").unwrap();
        fs::create_dir_all(old_dir.join("a/b")).unwrap();
        fs::write(old_dir.join("a/b/c"), b"y").unwrap();
        fs::write(&other, b"z").unwrap();
        fs::create_dir(&aside).unwrap();
        let live = StagedDir::beside(&target).unwrap();
        let day_ago = SystemTime::now() - STALE_STAGE_AGE - Duration::from_secs(60);
        for path in [&old_file, &old_dir, &other, &aside] {
            fs::File::open(path).unwrap().set_modified(day_ago).unwrap();
        }

        let mut removed = sweep_stale_stages(&target, STALE_STAGE_AGE);
        removed.sort();
        assert_eq!(removed, [old_file.clone(), old_dir.clone()]);
        assert!(live.path().exists(), "a stage in use is kept");
        assert!(other.exists() && aside.exists());
        // The constructor sweeps too: a new stage of the other target removes its leftover.
        let _fresh = StagedFile::beside(&dir.path().join("app.db"), 0o600).unwrap();
        assert!(!other.exists());
    }

    #[test]
    fn a_directory_replaces_the_old_one_only_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("files");
        let first = StagedDir::beside(&target).unwrap();
        fs::write(first.path().join("a"), b"1").unwrap();
        first.commit(Replace::Never).unwrap();

        let second = StagedDir::beside(&target).unwrap();
        fs::write(second.path().join("b"), b"2").unwrap();
        let refused = StagedDir::beside(&target).unwrap();
        assert!(matches!(
            refused.commit(Replace::Never),
            Err(StageError::Exists { .. })
        ));
        second.commit(Replace::Always).unwrap();
        assert_eq!(names(&target), ["b"]);
        assert_eq!(names(dir.path()), ["files"]);
    }
}
