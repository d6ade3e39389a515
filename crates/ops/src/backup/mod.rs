//! Backup: every selected source in turn, each locked per storage, streamed through the
//! pipeline to all its storages at once, recorded in the metrics and notified.

mod locked;
mod outcome;

use std::time::Instant;

pub use outcome::{BackupDone, BackupRun, SourceBackup};

use crate::config::SourceConfig;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::{keys, storage, Lifeboat, OpError};

impl Lifeboat {
    /// Backs up the named sources (all when `names` is empty), recording each into `metrics`
    /// and notifying the config's `[[notify]]` targets. `Err` only when nothing could start
    /// (an unknown name, no source, unusable `[compression]`/`[encryption]`).
    pub async fn backup(&self, names: &[String], metrics: &Metrics) -> Result<BackupRun, OpError> {
        let sources = self.select(names)?;
        if sources.is_empty() {
            return Err(OpError::NoSources {
                config: self.config().path.display().to_string(),
            });
        }
        // Unusable [compression]/[encryption] settings stop the run before any source.
        keys::backup_transforms(self.config())?;
        if self.config().encryption.is_none() {
            tracing::warn!(
                "backups are NOT encrypted: anyone who can read the storage can read the data; \
                 add [encryption] (see `lifeboat keygen`)"
            );
        }
        let notifier = Notifier::new(self.config().notify.clone());
        let mut done = Vec::new();
        for source in sources {
            done.push(self.backup_source(source, metrics, &notifier).await);
        }
        if notifier.failures() > 0 {
            tracing::error!(
                "{} notification(s) could not be delivered (the backups are not affected)",
                notifier.failures()
            );
        }
        metrics.record_notification_failures(notifier.failures());
        Ok(BackupRun {
            sources: done,
            notification_failures: notifier.failures(),
        })
    }

    /// Backs up one source, then records it into `metrics` and sends its notification (the
    /// daemon's scheduled backups come through here too).
    pub async fn backup_source(
        &self,
        source: &SourceConfig,
        metrics: &Metrics,
        notifier: &Notifier,
    ) -> SourceBackup {
        let started = Instant::now();
        let result = match keys::backup_transforms(self.config()) {
            Ok(transforms) => locked::backup_under_locks(self, source, &transforms).await,
            Err(error) => Err(error),
        };
        let backup = SourceBackup {
            source: source.name.clone(),
            kind: source.store.kind(),
            elapsed: started.elapsed(),
            result,
        };
        log(&backup);
        let record = backup.record();
        metrics.record_backup(&source.name, &record);
        match &backup.result {
            // A backup that missed some storages is the newest one there is: no need to ask
            // the storages (one of which may not be answering) for it.
            Ok(done) if !record.success => {
                let m = &done.manifest;
                metrics.set_last_success(
                    &source.name,
                    m.finished_at.unix_timestamp(),
                    m.artifact.raw_bytes,
                    m.artifact.stored_bytes,
                );
            }
            Err(_) => self.last_success_from_catalog(source, metrics).await,
            Ok(_) => {}
        }
        notifier.notify(&backup.event()).await;
        backup
    }

    /// After a failed run: the last-success gauges from the newest backup in storage, so a
    /// metrics file written by this run still says when the source last succeeded.
    async fn last_success_from_catalog(&self, source: &SourceConfig, metrics: &Metrics) {
        let Ok(sinks) = storage::for_source(self.config(), source, None) else {
            return;
        };
        let found = backup_core::catalog::catalog(&sinks, &source.name).await;
        if let Some(entry) = found.entries.first() {
            let m = &entry.manifest;
            metrics.set_last_success(
                &source.name,
                m.finished_at.unix_timestamp(),
                m.artifact.raw_bytes,
                m.artifact.stored_bytes,
            );
        }
    }
}

/// The log lines of one source's backup.
fn log(backup: &SourceBackup) {
    let source = &backup.source;
    match &backup.result {
        Ok(done) => {
            let m = &done.manifest;
            for failure in &done.failed {
                tracing::error!(source = %source, storage = %failure.storage,
                    error = %crate::describe(&failure.error), "storage missed the backup");
            }
            if let Some(error) = done.prune_error() {
                tracing::error!(source = %source, "the backup succeeded, the prune after it failed: {}",
                    crate::describe(error));
            } else if let Some(Ok(prune)) = &done.prune {
                if let Some(Ok(report)) = &prune.removed {
                    tracing::info!(source = %source, backups_removed = report.backups_removed,
                        leftovers_removed = report.leftovers_removed, "pruned after the backup");
                }
            }
            tracing::info!(source = %source, id = %m.id, raw_bytes = m.artifact.raw_bytes,
                stored_bytes = m.artifact.stored_bytes, duration_ms = m.duration_ms, "backup complete");
        }
        Err(error) => {
            tracing::error!(source = %source, "backup failed: {}", crate::describe(error));
        }
    }
}
