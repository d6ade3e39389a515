//! [`FilesError`]: everything that can go wrong in the files store, with the path, entry or
//! step it happened at, and how it maps to a [`StoreErrorKind`].

use std::io;
use std::path::PathBuf;

use backup_core::{ManifestError, StoreError, StoreErrorKind};
use lifeboat_edge::staged::StageError;
use tokio::task::JoinError;

/// An error of the files store.
///
/// Converts into a [`StoreError`] whose kind is given by [`FilesError::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// The source was configured without any path.
    #[error("files source has no paths: set `paths = [\"./config\", ...]`")]
    NoPaths,

    /// A restore of a files backup names no directory: it has no place of its own.
    #[error("a files backup has no place of its own to restore to: say where to unpack it with --to DIR")]
    NoTargetDir,

    /// An `exclude` pattern is not a valid glob.
    #[error("invalid exclude glob `{glob}`: {source}")]
    BadGlob {
        /// The pattern as configured.
        glob: String,
        /// Why globset refused it.
        #[source]
        source: globset::Error,
    },

    /// A configured path has no last component to name its top-level entry after.
    #[error(
        "path `{}` has no file name to name its top-level entry after \
         (name a file or directory, not `.`, `..` or `/`)",
        path.display()
    )]
    NoFileName {
        /// The configured path.
        path: PathBuf,
    },

    /// Two configured paths end in the same name, so they would collide in the archive.
    #[error(
        "paths `{}` and `{}` would both be stored as `{name}`: top-level entries are named \
         after the last component of each path, so these must differ",
        first.display(),
        second.display()
    )]
    DuplicateName {
        /// The first path with that name.
        first: PathBuf,
        /// The second one.
        second: PathBuf,
        /// The shared name.
        name: String,
    },

    /// A configured path does not exist.
    #[error("configured path `{}` does not exist", path.display())]
    MissingPath {
        /// The configured path.
        path: PathBuf,
    },

    /// A file or directory of the source could not be read.
    #[error("cannot read `{}` while {step}: {source}", path.display())]
    Read {
        /// The path being read.
        path: PathBuf,
        /// What was being done, e.g. `"walking the tree"`.
        step: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The source tree holds something that is not a file, directory or symlink.
    #[error(
        "`{}` is a {kind}: only regular files, directories and symlinks can be backed up \
         (add it to `exclude`)",
        path.display()
    )]
    UnsupportedFile {
        /// The path.
        path: PathBuf,
        /// What it is, e.g. `"socket"`.
        kind: &'static str,
    },

    /// A file changed between being listed and being read, so its entry would be inconsistent.
    #[error("`{}` changed while it was being backed up: {detail}", path.display())]
    Changed {
        /// The path.
        path: PathBuf,
        /// What changed.
        detail: String,
    },

    /// Writing the tar stream failed (the reading side went away, or a tar limit was hit).
    #[error("writing `{}` into the tar stream failed: {source}", path.display())]
    WriteArchive {
        /// The path whose entry was being written (empty while finishing the archive).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// Writing the backup stream into the pipeline failed.
    #[error("writing the backup stream failed: {source}")]
    WriteOutput {
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// Reading the backup stream from the pipeline failed.
    #[error("reading the backup stream failed: {source}")]
    ReadInput {
        /// The I/O error (may carry the pipeline's own reason).
        #[source]
        source: io::Error,
    },

    /// An archive entry's path could escape the restore directory.
    #[error("unsafe path in archive entry `{entry}`: {reason}")]
    UnsafeEntry {
        /// The entry's path as stored in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },

    /// An archive entry clashes with an earlier one (a file below a file, a file over a
    /// directory).
    #[error("archive entry `{entry}` conflicts with an earlier entry: {reason}")]
    ConflictingEntry {
        /// The entry's path as stored in the archive.
        entry: String,
        /// How it conflicts.
        reason: String,
    },

    /// An archive entry has a type the files store never writes (device node, fifo, hard
    /// link...): refused before anything is created for it.
    #[error(
        "archive entry `{entry}` is {kind}: a files backup holds only files, directories and \
         symlinks, so the archive is refused"
    )]
    UnsupportedEntry {
        /// The entry's path.
        entry: String,
        /// What it is, e.g. `"a character device"`.
        kind: String,
    },

    /// The tar stream is not valid.
    #[error("invalid tar stream while {step}{}: {source}", entry_suffix(entry))]
    Tar {
        /// What was being done, e.g. `"reading an entry header"`.
        step: &'static str,
        /// The entry involved, if known.
        entry: Option<String>,
        /// The parser's error.
        #[source]
        source: io::Error,
    },

    /// The stream ended before the archive did.
    #[error("the tar stream is truncated{}", entry_suffix(entry))]
    Truncated {
        /// The entry being read when the stream ended, if any.
        entry: Option<String>,
    },

    /// Non-zero bytes follow the archive's end marker.
    #[error("unexpected data after the end of the tar archive")]
    TrailingData,

    /// The manifest's metadata is not a [`FilesMetadata`](crate::FilesMetadata).
    #[error(transparent)]
    ManifestMetadata(ManifestError),

    /// The archive's counts differ from the manifest's.
    #[error("the archive does not match its manifest: {0}")]
    ManifestMismatch(String),

    /// The restore target holds data and `--force` was not given.
    #[error(
        "restore target `{}` is not empty: nothing was changed; `--force` replaces it",
        path.display()
    )]
    TargetNotEmpty {
        /// The target directory.
        path: PathBuf,
    },

    /// The restore target exists and is not a directory.
    #[error(
        "restore target `{}` exists and is not a directory (a files backup restores into a \
         directory)",
        path.display()
    )]
    TargetNotDir {
        /// The target path.
        path: PathBuf,
    },

    /// Extracting an entry into the staging directory failed.
    #[error("extracting archive entry `{entry}` failed: {source}")]
    Extract {
        /// The entry's path.
        entry: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// A file-system operation of the restore failed.
    #[error("cannot {step} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. `"create the staging directory in"`.
        step: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// Staging the restored directory or renaming it into place failed. When the rename
    /// failed and so did putting the previous contents back, it is
    /// [`StageError::SwapFailed`], which says where they are kept.
    #[error(transparent)]
    Stage(#[from] StageError),

    /// A blocking worker task panicked or was cancelled.
    #[error("the {task} task failed: {source}")]
    Task {
        /// What the task did, e.g. `"tar extractor"`.
        task: &'static str,
        /// Why it did not complete.
        #[source]
        source: JoinError,
    },

    /// A blocking reader stopped reading the stream before its end without saying why.
    #[error("the {task} task failed: it stopped reading the stream early: {source}")]
    StoppedEarly {
        /// What the task did, e.g. `"tar reader"`.
        task: &'static str,
        /// The error writing into its pipe.
        #[source]
        source: io::Error,
    },
}

fn entry_suffix(entry: &Option<String>) -> String {
    match entry {
        Some(entry) => format!(" at entry `{entry}`"),
        None => String::new(),
    }
}

impl FilesError {
    /// The [`StoreErrorKind`] the CLI uses to pick an exit code.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            FilesError::NoPaths
            | FilesError::NoTargetDir
            | FilesError::BadGlob { .. }
            | FilesError::NoFileName { .. }
            | FilesError::DuplicateName { .. }
            | FilesError::MissingPath { .. }
            | FilesError::TargetNotDir { .. } => StoreErrorKind::Config,
            FilesError::UnsafeEntry { .. }
            | FilesError::ConflictingEntry { .. }
            | FilesError::UnsupportedEntry { .. }
            | FilesError::Tar { .. }
            | FilesError::Truncated { .. }
            | FilesError::TrailingData
            | FilesError::ManifestMetadata(_)
            | FilesError::ManifestMismatch(_) => StoreErrorKind::Corrupt,
            FilesError::TargetNotEmpty { .. } => StoreErrorKind::TargetNotEmpty,
            FilesError::ReadInput { source } if source.kind() == io::ErrorKind::InvalidData => {
                StoreErrorKind::Corrupt
            }
            FilesError::Read { .. }
            | FilesError::UnsupportedFile { .. }
            | FilesError::Changed { .. }
            | FilesError::WriteArchive { .. }
            | FilesError::WriteOutput { .. }
            | FilesError::ReadInput { .. }
            | FilesError::Extract { .. }
            | FilesError::Io { .. }
            | FilesError::Stage(_)
            | FilesError::Task { .. }
            | FilesError::StoppedEarly { .. } => StoreErrorKind::Failed,
        }
    }

    pub(crate) fn io(step: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FilesError::Io {
            step,
            path: path.into(),
            source,
        }
    }
}

impl From<FilesError> for StoreError {
    fn from(err: FilesError) -> Self {
        StoreError::new(err.kind(), err)
    }
}
