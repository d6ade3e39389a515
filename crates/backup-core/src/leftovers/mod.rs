//! Leftovers: what failed or killed runs leave behind that is no backup (ARCHITECTURE.md,
//! invariant 1). `prune` removes each kind once it is older than the grace period, judged by
//! its modification time; nothing here ever counts as a backup (the catalog reads manifests
//! only).
//!
//! Storages report what they hold besides objects through [`Sink::list_leftovers`]
//! (`crate::Sink::list_leftovers`); data without a manifest is found by the prune plan itself;
//! scratch copies in this host's temp folder are found by [`scratch`].

pub mod scratch;

use std::fmt;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// How old a leftover must be before prune removes it, by default (`[prune] leftover_grace`).
///
/// It is four times the lock's default `stale_after` (6 h): a backup whose lock was taken over
/// as stale still keeps its files for 18 h more. Temp uploads and partial objects are
/// rewritten as the backup goes, so their modification time stays young while it runs; the
/// folder and the multipart upload of a backup are dated from its start, so a backup that
/// runs longer than the grace *and* lost its lock could lose them — a day is far beyond any
/// backup's duration.
pub const DEFAULT_LEFTOVER_GRACE: Duration = Duration::hours(24);

/// What kind of leftover an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeftoverKind {
    /// An object in a backup folder that has no manifest: the data of a failed or killed run.
    NoManifest,
    /// A file in the storage's temp folder (`.lifeboat-tmp/` on fs): an upload never renamed
    /// into place.
    TempUpload,
    /// A backup folder with nothing in it (fs: created for an upload that never completed).
    EmptyFolder,
    /// A multipart upload never completed nor aborted (S3): invisible to listings, but its
    /// parts are stored (and billed).
    UnfinishedUpload,
    /// A scratch copy in this host's temp folder (SQLite's backup-API copy).
    ScratchCopy,
}

impl LeftoverKind {
    /// How the kind is shown, e.g. `"temp upload"`.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoManifest => "data without manifest",
            Self::TempUpload => "temp upload",
            Self::EmptyFolder => "empty folder",
            Self::UnfinishedUpload => "unfinished upload",
            Self::ScratchCopy => "scratch copy",
        }
    }
}

impl fmt::Display for LeftoverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Which leftovers [`crate::Sink::list_leftovers`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftoverScope<'a> {
    /// Below one source's folder (`<source>/`): empty folders and unfinished uploads.
    Source(&'a str),
    /// The storage's own temp area (`.lifeboat-tmp/` on fs), shared by every source.
    Internal,
}

/// Something a storage holds besides its objects, as [`crate::Sink::list_leftovers`]
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageLeftover {
    /// What it is.
    pub kind: LeftoverKind,
    /// Its key relative to the storage root (a folder ends with `/`).
    pub key: String,
    /// The bytes it holds, as far as known (an unfinished upload's parts are not counted).
    pub size: u64,
    /// When it was last modified (a multipart upload: when it was started).
    pub last_modified: Option<OffsetDateTime>,
    /// The upload id of an unfinished multipart upload.
    pub upload_id: Option<String>,
}

/// Whether something last modified at `modified` is past `grace` at `now`. An unknown time is
/// never past it: an item whose age cannot be read is kept (and shown as of unknown age).
pub fn past_grace(modified: Option<OffsetDateTime>, now: OffsetDateTime, grace: Duration) -> bool {
    modified.is_some_and(|modified| now - modified >= grace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_age_is_never_past_grace() {
        let now = OffsetDateTime::now_utc();
        assert!(!past_grace(None, now, Duration::ZERO));
        assert!(past_grace(
            Some(now - Duration::hours(25)),
            now,
            DEFAULT_LEFTOVER_GRACE
        ));
        assert!(!past_grace(
            Some(now - Duration::hours(23)),
            now,
            DEFAULT_LEFTOVER_GRACE
        ));
        // Dated in the future (a clock ahead): young.
        assert!(!past_grace(
            Some(now + Duration::hours(48)),
            now,
            DEFAULT_LEFTOVER_GRACE
        ));
    }
}
