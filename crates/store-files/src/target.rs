//! [`FilesTarget`]: restores a tar stream into a directory, atomically.

use std::cmp::Reverse;
use std::fs;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use backup_core::{Manifest, Report, RestoreOptions, StoreError, Target};
use filetime::FileTime;
use tar::Entry;
use tempfile::TempDir;
use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;

use crate::archive::{read_archive, Checked, EntryKind};
use crate::counts::Counts;
use crate::entry_path::ancestors;
use crate::stream::{feed, joined, settle_reader, CHUNK};
use crate::FilesError;

/// Restores a files backup into a directory.
///
/// The archive is extracted into a staging directory created beside the target
/// (`.lifeboat-restore-XXXXXX`), from a stream read to its EOF and checked (safe paths only,
/// counts equal to the manifest's) before anything is renamed into place. An entry with an
/// absolute path, a `..` component or a path below a symlink fails the restore as corrupt:
/// nothing is ever written outside the staging directory. Modes and mtimes are restored
/// (directories' after their contents); owners are not.
///
/// The target directory itself ends up with the permissions of the directory it replaces, or
/// `0700` when it did not exist.
#[derive(Debug, Clone)]
pub struct FilesTarget {
    dir: PathBuf,
}

impl FilesTarget {
    /// A target restoring into `dir` (created if missing, along with its parents).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
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
        if manifest.dump_format != "tar" {
            return Err(FilesError::WrongFormat(manifest.dump_format.clone()).into());
        }
        let expected = Counts::from_metadata(&manifest.metadata)?;
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
        let task = tokio::task::spawn_blocking(move || extract(bridge, &staging_path));
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
        let outcome = tokio::task::spawn_blocking(move || {
            finish_dirs(dirs)?;
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

/// Creates the staging directory beside the target (and the target's parents if missing).
fn make_staging(dir: &Path) -> Result<TempDir, FilesError> {
    let parent = parent_of(dir);
    fs::create_dir_all(parent)
        .map_err(|source| FilesError::io("create the parent directory", parent, source))?;
    tempfile::Builder::new()
        .prefix(".lifeboat-restore-")
        .tempdir_in(parent)
        .map_err(|source| FilesError::io("create a staging directory in", parent, source))
}

/// Removes a staging directory after a failure (best effort: the error at hand matters more).
async fn discard(staging: TempDir) {
    let path = staging.path().to_path_buf();
    let outcome = tokio::task::spawn_blocking(move || staging.close()).await;
    if !matches!(outcome, Ok(Ok(()))) {
        tracing::warn!(path = %path.display(), "could not remove the staging directory");
    }
}

/// A directory's mode and mtime, applied once everything inside it is written.
#[derive(Debug)]
struct DirStamp {
    path: PathBuf,
    mode: u32,
    mtime: u64,
}

/// The blocking side of `restore`: reads the whole stream, extracting into `staging`.
fn extract<R: Read>(reader: R, staging: &Path) -> Result<(Counts, Vec<DirStamp>), FilesError> {
    let mut dirs = Vec::new();
    let counts = read_archive(BufReader::with_capacity(CHUNK, reader), |entry, checked| {
        extract_entry(entry, &checked, staging, &mut dirs)
    })?;
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
    // before (the archive reader already refuses paths below a symlink entry; this checks the
    // disk itself).
    for ancestor in ancestors(checked.rel) {
        match fs::symlink_metadata(staging.join(&ancestor)) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(unsafe_entry(format!(
                    "its parent `{}` is a symlink",
                    ancestor.display()
                )))
            }
            Ok(_) => {
                return Err(conflict(&format!(
                    "its parent `{}` is a file",
                    ancestor.display()
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

/// Applies directories' modes and mtimes, deepest first, once all their contents are written.
fn finish_dirs(mut dirs: Vec<DirStamp>) -> Result<(), FilesError> {
    dirs.sort_by_key(|stamp| Reverse(stamp.path.components().count()));
    for stamp in dirs {
        let is_real_dir = fs::symlink_metadata(&stamp.path)
            .map(|meta| meta.is_dir())
            .unwrap_or(false);
        if !is_real_dir {
            continue;
        }
        let mtime = FileTime::from_unix_time(i64::try_from(stamp.mtime).unwrap_or(0), 0);
        filetime::set_file_mtime(&stamp.path, mtime)
            .map_err(|source| FilesError::io("set the mtime of", &stamp.path, source))?;
        fs::set_permissions(&stamp.path, fs::Permissions::from_mode(stamp.mode & 0o7777))
            .map_err(|source| FilesError::io("set the permissions of", &stamp.path, source))?;
    }
    Ok(())
}

/// Renames the staging directory into place. An existing target (empty, or anything with
/// `force`) is moved aside first and removed last; if the final rename fails, it is put back.
fn swap_into_place(staging: TempDir, target: &Path, force: bool) -> Result<(), FilesError> {
    let existing = match fs::symlink_metadata(target) {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(FilesError::io("inspect the restore target", target, source)),
    };
    let Some(existing) = existing else {
        fs::rename(staging.path(), target)
            .map_err(|source| FilesError::io("rename the staging directory to", target, source))?;
        let _ = staging.keep();
        return Ok(());
    };
    // The same rule as `prepare`, in case the target changed during the restore.
    check_target(target, force)?;
    fs::set_permissions(staging.path(), existing.permissions())
        .map_err(|source| FilesError::io("set the permissions of", staging.path(), source))?;

    let aside = tempfile::Builder::new()
        .prefix(".lifeboat-old-")
        .tempdir_in(parent_of(target))
        .map_err(|source| FilesError::io("create a directory beside", target, source))?;
    let old = aside.path().join("old");
    fs::rename(target, &old)
        .map_err(|source| FilesError::io("move aside the existing target", target, source))?;
    if let Err(source) = fs::rename(staging.path(), target) {
        if fs::rename(&old, target).is_err() {
            // Keep the old data where it is, and say where.
            return Err(FilesError::SwapFailed {
                target: target.to_path_buf(),
                kept: aside.keep().join("old"),
                source,
            });
        }
        return Err(FilesError::io(
            "rename the staging directory to",
            target,
            source,
        ));
    }
    let _ = staging.keep();
    if let Err(err) = aside.close() {
        tracing::warn!(
            target = %target.display(),
            error = %err,
            "restored, but the previous contents could not be fully removed"
        );
    }
    Ok(())
}
