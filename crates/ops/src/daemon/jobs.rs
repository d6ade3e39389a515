//! One scheduled job of one source: a backup, or a restore drill (`verify --deep` of the
//! latest backup), recorded in the metrics (and, for backups, notified).

use backup_core::catalog::Selector;
use time::OffsetDateTime;

use crate::config::SourceConfig;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::{describe, Lifeboat};

/// What a scheduled job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// A backup of the source (`schedule`).
    Backup,
    /// A restore drill of its latest backup (`verify_schedule`).
    Verify,
}

impl Job {
    /// Runs the job for `source` once and records it.
    pub async fn run(
        self,
        lifeboat: &Lifeboat,
        source: &SourceConfig,
        metrics: &Metrics,
        notifier: &Notifier,
    ) {
        match self {
            Job::Backup => {
                tracing::info!(source = %source.name, "scheduled backup starting");
                let before = notifier.failures();
                lifeboat.backup_source(source, metrics, notifier).await;
                metrics.record_notification_failures(notifier.failures() - before);
            }
            Job::Verify => {
                tracing::info!(source = %source.name, "scheduled verify starting");
                let ok = match lifeboat
                    .verify_source(source, &Selector::Latest, true, None)
                    .await
                {
                    Ok(results) => !results.is_empty() && results.iter().all(|r| r.ok()),
                    Err(error) => {
                        tracing::error!(source = %source.name, "scheduled verify failed: {}", describe(&error));
                        false
                    }
                };
                if !ok {
                    tracing::error!(source = %source.name, "scheduled verify found a problem (see `lifeboat status`)");
                }
                metrics.record_verify(&source.name, ok, OffsetDateTime::now_utc().unix_timestamp());
            }
        }
    }
}
