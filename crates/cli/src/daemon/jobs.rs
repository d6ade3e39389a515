//! One scheduled job of one source: a backup or a restore drill (verify of the latest backup),
//! recorded in the metrics and (for backups) sent to the notification targets.

use std::sync::Arc;

use backup_core::catalog::Selector;
use time::OffsetDateTime;

use crate::commands::{backup_one, event_of, verify_source};
use crate::config::{Config, SourceConfig};
use crate::metrics::{BackupRecord, Metrics};
use crate::notify::Notifier;

/// What a scheduled job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `lifeboat backup NAME`.
    Backup,
    /// `lifeboat verify NAME` (a restore drill of the latest backup).
    Verify,
}

/// Runs `job` for `source` once and records it.
pub async fn run_job(
    job: Job,
    config: &Config,
    source: &SourceConfig,
    metrics: &Arc<Metrics>,
    notifier: &Notifier,
) {
    match job {
        Job::Backup => run_backup(config, source, metrics, notifier).await,
        Job::Verify => run_verify(config, source, metrics).await,
    }
}

async fn run_backup(
    config: &Config,
    source: &SourceConfig,
    metrics: &Metrics,
    notifier: &Notifier,
) {
    let clock = std::time::Instant::now();
    tracing::info!(source = %source.name, "scheduled backup starting");
    let transforms = match crate::keys::backup_transforms(config) {
        Ok(transforms) => transforms,
        Err(err) => {
            tracing::error!(source = %source.name, "backup failed: {}", err.message());
            return;
        }
    };
    let result = backup_one(config, source, &transforms)
        .await
        .map(|(outcome, prune_failure)| {
            if let Some(err) = prune_failure {
                tracing::error!(source = %source.name, "the prune after the backup failed: {}", err.message());
            }
            outcome
        });
    let before = notifier.failures();
    notifier.notify(&event_of(source, &result)).await;
    metrics.record_notification_failures(notifier.failures() - before);
    let record = match &result {
        Ok(outcome) => {
            let m = &outcome.manifest;
            tracing::info!(source = %source.name, id = %m.id, stored_bytes = m.artifact.stored_bytes, "scheduled backup done");
            BackupRecord {
                success: outcome.failed.is_empty(),
                duration_seconds: m.duration_ms as f64 / 1000.0,
                raw_bytes: Some(m.artifact.raw_bytes),
                stored_bytes: Some(m.artifact.stored_bytes),
                finished_at_unix: m.finished_at.unix_timestamp(),
            }
        }
        Err(err) => {
            tracing::error!(source = %source.name, "scheduled backup failed: {}", err.message());
            BackupRecord {
                success: false,
                duration_seconds: clock.elapsed().as_secs_f64(),
                raw_bytes: None,
                stored_bytes: None,
                finished_at_unix: OffsetDateTime::now_utc().unix_timestamp(),
            }
        }
    };
    metrics.record_backup(&source.name, &record);
}

async fn run_verify(config: &Config, source: &SourceConfig, metrics: &Metrics) {
    tracing::info!(source = %source.name, "scheduled verify starting");
    let ok = match verify_source(config, source, &Selector::Latest, true, None).await {
        Ok(results) => !results.is_empty() && results.iter().all(|r| r.ok),
        Err(err) => {
            tracing::error!(source = %source.name, "scheduled verify failed: {}", err.message());
            false
        }
    };
    if !ok {
        tracing::error!(source = %source.name, "scheduled verify found a problem (see `lifeboat status`)");
    }
    metrics.record_verify(&source.name, ok, OffsetDateTime::now_utc().unix_timestamp());
}
