//! [`FilesTarget`]: restores a tar stream into a directory, atomically.

use std::cmp::Reverse;
use std::fs;
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use backup_core::{Manifest, Report, RestoreOptions, StoreError, Target};
use filetime::FileTime;
use lifeboat_edge::staged::{Replace, StagedDir};
use tar::Entry;
use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;

use crate::archive::{read_archive, Checked, EntryKind, Owners};
use crate::counts::Counts;
use crate::entry_path::ancestors;
use crate::metadata::FilesMetadata;
use crate::stream::{feed, joined, settle_reader, CHUNK};
use crate::FilesError;

/// Restores a files backup into a directory.
///
/// The archive is extracted into a staging directory created beside the target
/// (`.<name>.lifeboat-XXXXXX`, a [`StagedDir`]), from a stream read to its EOF and checked
/// (safe paths only, counts equal to the manifest's) before anything is renamed into place;
/// an existing target is moved aside first and removed only once the new one is in place. An
/// entry with an absolute path, a `..` component or a path below a symlink fails the restore
/// as corrupt, and so does an entry stored twice or out of the order a backup writes (the
/// rule the format check applies too): nothing is ever written outside the staging directory.
/// Device nodes, fifos and hard links are refused. Permission bits (`0o777`) and mtimes are
/// restored (directories' after their contents); owners, and with them the setuid, setgid and
/// sticky bits, only with [`FilesTarget::preserve_owner`].
///
/// The target directory itself ends up with the permissions of the directory it replaces, or
/// `0700` when it did not exist (and so do the parent folders the restore creates).
#[derive(Debug, Clone)]
pub struct FilesTarget {
    dir: PathBuf,
    owners: Owners,
}

impl FilesTarget {
    /// A target restoring into `dir` (created if missing, along with its parents), owned by
    /// the restoring user.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            owners: Owners::Drop,
        }
    }

    /// With `true`, restores each entry's numeric owner and group as stored (like GNU tar's
    /// `--same-owner --numeric-owner`; only root may) and keeps setuid, setgid and sticky
    /// bits. With `false` (the default) everything belongs to the restoring user and those
    /// bits are dropped, so a restore by root never makes a setuid-root file out of someone
    /// else's.
    pub fn preserve_owner(mut self, preserve: bool) -> Self {
        self.owners = if preserve {
            Owners::Restore
        } else {
            Owners::Drop
        };
        self
    }

    /// The directory restored into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Target for FilesTarget {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    /// Refuses an existing non-empty directory without `force`, and an existing
    /// non-directory always.
    async fn prepare(
        &self,
        _manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        let force = options.force;
        let outcome = tokio::task::spawn_blocking(move || check_target(&dir, force)).await;
        Ok(joined("target check", outcome)?)
    }

    async fn restore(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        let expected = FilesMetadata::of(manifest)?.counts();
        let force = options.force;

        let dir = self.dir.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            check_target(&dir, force)?;
            make_staging(&dir)
        })
        .await;
        let staging = joined("staging", outcome)?;

        let (writer, reader) = tokio::io::duplex(CHUNK);
        let bridge = SyncIoBridge::new(reader);
        let staging_path = staging.path().to_path_buf();
        let owners = self.owners;
        let task = tokio::task::spawn_blocking(move || extract(bridge, &staging_path, owners));
        let (fed, outcome) = tokio::join!(feed(input, writer), task);
        let extracted = settle_reader(fed, "tar extractor", outcome)
            .and_then(|(counts, dirs)| counts.expect(&expected).map(|()| (counts, dirs)));
        let (counts, dirs) = match extracted {
            Ok(extracted) => extracted,
            Err(err) => {
                discard(staging).await;
                return Err(err.into());
            }
        };

        let dir = self.dir.clone();
        let owners = self.owners;
        let outcome = tokio::task::spawn_blocking(move || {
            finish_dirs(dirs, owners)?;
            swap_into_place(staging, &dir, force)
        })
        .await;
        joined("swap", outcome)?;

        let mut details = counts.to_json();
        if let serde_json::Value::Object(fields) = &mut details {
            fields.insert("target".into(), self.describe().into());
        }
        Ok(Report {
            summary: format!("restored {} to {}", counts.describe(), self.dir.display()),
            details,
        })
    }
}

/// The prepare rule, checked again right before the swap.
fn check_target(dir: &Path, force: bool) -> Result<(), FilesError> {
    match fs::symlink_metadata(dir) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FilesError::io("inspect the restore target", dir, source)),
        Ok(meta) if !meta.is_dir() => Err(FilesError::TargetNotDir {
            path: dir.to_path_buf(),
        }),
        Ok(_) if force || is_empty_dir(dir)? => Ok(()),
        Ok(_) => Err(FilesError::TargetNotEmpty {
            path: dir.to_path_buf(),
        }),
    }
}

fn is_empty_dir(dir: &Path) -> Result<bool, FilesError> {
    let mut entries = fs::read_dir(dir)
        .map_err(|source| FilesError::io("list the restore target", dir, source))?;
    Ok(entries.next().is_none())
}

fn parent_of(dir: &Path) -> &Path {
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates the staging directory beside the target (and the target's parents if missing,
/// 0700 like a new target: README, "Files restore").
fn make_staging(dir: &Path) -> Result<StagedDir, FilesError> {
    let parent = parent_of(dir);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|source| FilesError::io("create the parent directory", parent, source))?;
    Ok(StagedDir::beside(dir)?)
}

/// Removes a staging directory after a failure (best effort: the error at hand matters more).
async fn discard(staging: StagedDir) {
    let path = staging.path().to_path_buf();
    let outcome = tokio::task::spawn_blocking(move || drop(staging)).await;
    if outcome.is_err() || path.exists() {
        tracing::warn!(path = %path.display(), "could not remove the staging directory");
    }
}

/// A directory's mode, mtime and owner, applied once everything inside it is written.
#[derive(Debug)]
pub(crate) struct DirStamp {
    path: PathBuf,
    mode: u32,
    mtime: u64,
    uid: u64,
    gid: u64,
}

/// The blocking side of `restore`: reads the whole stream, extracting into `staging`.
pub(crate) fn extract<R: Read>(
    reader: R,
    staging: &Path,
    owners: Owners,
) -> Result<(Counts, Vec<DirStamp>), FilesError> {
    let mut dirs = Vec::new();
    let counts = read_archive(
        BufReader::with_capacity(CHUNK, reader),
        owners,
        |entry, checked| extract_entry(entry, &checked, staging, &mut dirs),
    )?;
    Ok((counts, dirs))
}

fn extract_entry<R: Read>(
    entry: &mut Entry<'_, R>,
    checked: &Checked<'_>,
    staging: &Path,
    dirs: &mut Vec<DirStamp>,
) -> Result<(), FilesError> {
    let unsafe_entry = |reason: String| FilesError::UnsafeEntry {
        entry: checked.name.to_string(),
        reason,
    };
    let conflict = |reason: &str| FilesError::ConflictingEntry {
        entry: checked.name.to_string(),
        reason: reason.to_string(),
    };
    let extract_err = |source| FilesError::Extract {
        entry: checked.name.to_string(),
        source,
    };
    // Nothing may be written through a symlink or below a file, whatever the archive did
    // before (the archive reader's entry order already refuses such archives; this checks the
    // disk itself).
    for ancestor in ancestors(checked.rel) {
        match fs::symlink_metadata(staging.join(&ancestor)) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(unsafe_entry(format!(
                    "its parent `{}` is a symlink",
                    lifeboat_edge::shown::excerpt(ancestor.as_os_str().as_bytes())
                )))
            }
            Ok(_) => {
                return Err(conflict(&format!(
                    "its parent `{}` is a file",
                    lifeboat_edge::shown::excerpt(ancestor.as_os_str().as_bytes())
                )))
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => break,
            Err(source) => return Err(extract_err(source)),
        }
    }
    let dest = staging.join(checked.rel);
    let existing = match fs::symlink_metadata(&dest) {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(extract_err(source)),
    };
    match checked.kind {
        EntryKind::Dir => {
            match existing {
                Some(meta) if meta.is_dir() => {}
                Some(_) => return Err(conflict("a directory would replace a file or symlink")),
                None => fs::create_dir_all(&dest).map_err(extract_err)?,
            }
            let header = entry.header();
            let bad_header = |source| FilesError::Tar {
                step: "reading a directory's header",
                entry: Some(checked.name.to_string()),
                source,
            };
            dirs.push(DirStamp {
                path: dest,
                mode: header.mode().map_err(bad_header)?,
                mtime: header.mtime().map_err(bad_header)?,
                uid: header.uid().map_err(bad_header)?,
                gid: header.gid().map_err(bad_header)?,
            });
        }
        EntryKind::File | EntryKind::Symlink => {
            if existing.is_some_and(|meta| meta.is_dir()) {
                return Err(conflict("it would replace a directory"));
            }
            // `unpack_in` re-checks the path and refuses to write through a symlink that
            // leads outside `staging`; it returns false for a path it skips.
            if !entry.unpack_in(staging).map_err(extract_err)? {
                return Err(unsafe_entry("the tar library refused to unpack it".into()));
            }
        }
    }
    Ok(())
}

/// Applies directories' owners (with [`Owners::Restore`]), modes and mtimes, deepest first,
/// once all their contents are written. The owner goes first: `chown` clears setuid/setgid.
pub(crate) fn finish_dirs(mut dirs: Vec<DirStamp>, owners: Owners) -> Result<(), FilesError> {
    dirs.sort_by_key(|stamp| Reverse(stamp.path.components().count()));
    for stamp in dirs {
        let is_real_dir = fs::symlink_metadata(&stamp.path)
            .map(|meta| meta.is_dir())
            .unwrap_or(false);
        if !is_real_dir {
            continue;
        }
        let mtime = FileTime::from_unix_time(i64::try_from(stamp.mtime).unwrap_or(0), 0);
        if owners == Owners::Restore {
            let id = |n: u64| {
                u32::try_from(n).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("id {n} is too large"))
                })
            };
            id(stamp.uid)
                .and_then(|uid| Ok((uid, id(stamp.gid)?)))
                .and_then(|(uid, gid)| std::os::unix::fs::lchown(&stamp.path, Some(uid), Some(gid)))
                .map_err(|source| FilesError::io("set the owner of", &stamp.path, source))?;
        }
        filetime::set_file_mtime(&stamp.path, mtime)
            .map_err(|source| FilesError::io("set the mtime of", &stamp.path, source))?;
        let mode = stamp.mode & owners.mode_mask();
        fs::set_permissions(&stamp.path, fs::Permissions::from_mode(mode))
            .map_err(|source| FilesError::io("set the permissions of", &stamp.path, source))?;
    }
    Ok(())
}

/// Renames the staging directory into place. An existing target (empty, or anything with
/// `force`) gives the new one its permissions, is moved aside, and removed once the new one is
/// in place; if that rename fails, it is put back ([`StagedDir::commit`]).
fn swap_into_place(staging: StagedDir, target: &Path, force: bool) -> Result<(), FilesError> {
    match fs::symlink_metadata(target) {
        Ok(existing) => {
            // The same rule as `prepare`, in case the target changed during the restore.
            check_target(target, force)?;
            fs::set_permissions(staging.path(), existing.permissions()).map_err(|source| {
                FilesError::io("set the permissions of", staging.path(), source)
            })?;
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(FilesError::io("inspect the restore target", target, source)),
    }
    Ok(staging.commit(Replace::Always)?)
}
