//! What a backup run returns: one [`SourceBackup`] per source, and the rules that judge it.

use std::time::Duration;

use backup_core::pipeline::StorageFailure;
use backup_core::Manifest;

use crate::metrics::BackupRecord;
use crate::notify::{BackupEvent, EventKind};
use crate::prune::PruneOutcome;
use crate::{describe, Failure, OpError, Verdict};

/// A backup that exists in at least one storage.
#[derive(Debug)]
pub struct BackupDone {
    /// Its manifest.
    pub manifest: Manifest,
    /// The storages holding it (data and manifest).
    pub stored_in: Vec<String>,
    /// The storages that missed it (could not be locked, failed or timed out mid-upload,
    /// refused the manifest): the backup is partial where this is not empty.
    pub failed: Vec<StorageFailure>,
    /// With `prune = "after-backup"` and a complete backup: the prune that followed, under
    /// the same lock.
    pub prune: Option<Result<PruneOutcome, OpError>>,
}

impl BackupDone {
    /// Whether every storage got the backup.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    /// Why the prune after the backup failed, if it did.
    pub fn prune_error(&self) -> Option<&OpError> {
        match &self.prune {
            Some(Err(error)) => Some(error),
            Some(Ok(outcome)) => match &outcome.removed {
                Some(Err(error)) => Some(error),
                _ => None,
            },
            None => None,
        }
    }
}

/// The backup of one source.
#[derive(Debug)]
pub struct SourceBackup {
    /// The source.
    pub source: String,
    /// Its store kind.
    pub kind: &'static str,
    /// How long the attempt took.
    pub elapsed: Duration,
    /// The backup, or why there is none.
    pub result: Result<BackupDone, OpError>,
}

impl SourceBackup {
    /// How this source's backup went: a success only when every storage got it and the
    /// prune after it (if any) worked; a partial backup is a failure of this source.
    pub fn failure(&self) -> Option<Failure> {
        match &self.result {
            Ok(done) if !done.is_complete() => Some(Failure::Failed),
            Ok(done) => done.prune_error().map(|_| Failure::Failed),
            Err(error) => Some(error.failure()),
        }
    }

    /// What the metrics record: a success only when the backup reached every storage (a
    /// prune failing after it does not undo the backup). Times and sizes are the manifest's
    /// when there is one, else the attempt's.
    pub fn record(&self) -> BackupRecord {
        match &self.result {
            Ok(done) => {
                let m = &done.manifest;
                BackupRecord {
                    success: done.is_complete(),
                    duration_seconds: Duration::from_millis(m.duration_ms).as_secs_f64(),
                    raw_bytes: Some(m.artifact.raw_bytes),
                    stored_bytes: Some(m.artifact.stored_bytes),
                    finished_at_unix: m.finished_at.unix_timestamp(),
                }
            }
            Err(_) => BackupRecord {
                success: false,
                duration_seconds: self.elapsed.as_secs_f64(),
                raw_bytes: None,
                stored_bytes: None,
                finished_at_unix: time::OffsetDateTime::now_utc().unix_timestamp(),
            },
        }
    }

    /// The notification: a partial backup (some storage missed it) is a failure.
    pub fn event(&self) -> BackupEvent {
        match &self.result {
            Ok(done) => {
                let kind = if done.is_complete() {
                    EventKind::Success
                } else {
                    EventKind::Failure
                };
                let m = &done.manifest;
                let mut event = BackupEvent::new(kind, &self.source, self.kind);
                event.backup_id = Some(m.id.to_string());
                event.raw_bytes = Some(m.artifact.raw_bytes);
                event.stored_bytes = Some(m.artifact.stored_bytes);
                event.duration_ms = Some(m.duration_ms);
                event.storages = done.stored_in.clone();
                if !done.is_complete() {
                    event.error = Some(
                        done.failed
                            .iter()
                            .map(|f| describe(&f.error))
                            .collect::<Vec<_>>()
                            .join("; "),
                    );
                }
                event
            }
            Err(error) => {
                let mut event = BackupEvent::new(EventKind::Failure, &self.source, self.kind);
                event.error = Some(describe(error));
                event
            }
        }
    }
}

/// A backup run over several sources.
#[derive(Debug)]
pub struct BackupRun {
    /// One entry per source, in config order.
    pub sources: Vec<SourceBackup>,
    /// Notifications that could not be delivered (the backups are not affected).
    pub notification_failures: u64,
}

impl BackupRun {
    /// Success when every source succeeded; partial when some failed but at least one
    /// backup exists (a source that missed some of its storages has one: README, "What a
    /// backup is"); else the failure that says most.
    pub fn verdict(&self) -> Verdict {
        match Verdict::of(self.sources.iter().map(SourceBackup::failure)) {
            Verdict::Failed(_) if self.sources.iter().any(|s| s.result.is_ok()) => Verdict::Partial,
            verdict => verdict,
        }
    }
}
