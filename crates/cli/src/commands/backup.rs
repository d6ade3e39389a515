//! `lifeboat backup [NAME...] [--metrics-file PATH]`: every selected source in turn, then a
//! summary table (and the run's metrics, for the node exporter's textfile collector).

use std::path::Path;
use std::time::{Duration, Instant};

use backup_core::pipeline::StorageFailure;
use backup_core::pipeline::{run_backup, BackupOutcome, BackupRequest};
use backup_core::transform::Transform;
use backup_core::{Error, SinkError};

use super::select_sources;
use crate::config::{Config, PruneWhen, SourceConfig};
use crate::exit::{CliError, Exit};
use crate::metrics::{BackupRecord, Metrics};
use crate::notify::{BackupEvent, EventKind, Notifier};
use crate::{keys, output, progress, registry, storage};

/// Backs up the named sources (all when `names` is empty); with `metrics_file`, then writes
/// the run's metrics there (a failed write makes a successful run exit 1).
pub async fn run(
    config: &Config,
    names: &[String],
    metrics_file: Option<&Path>,
) -> Result<Exit, CliError> {
    let sources = select_sources(config, names)?;
    if sources.is_empty() {
        return Err(CliError::usage(format!(
            "{} defines no [[sources]]",
            config.path.display()
        )));
    }
    let transforms = keys::backup_transforms(config)?;
    if config.encryption.is_none() {
        tracing::warn!(
            "backups are NOT encrypted: anyone who can read the storage can read the data; \
             add [encryption] (see `lifeboat keygen`)"
        );
    }
    let mut table = output::table(&[
        "source", "status", "id", "raw", "stored", "ratio", "duration", "storages",
    ]);
    let mut codes = Vec::new();
    let notifier = Notifier::new(config.notify.clone());
    let metrics = Metrics::new();
    for source in sources {
        let started = Instant::now();
        let (result, prune_failure) = match backup_one(config, source, &transforms).await {
            Ok((outcome, prune_failure)) => (Ok(outcome), prune_failure),
            Err(err) => (Err(err), None),
        };
        let record = record_of(&result, started.elapsed());
        metrics.record_backup(&source.name, &record);
        if !record.success {
            last_success_from_catalog(config, source, &metrics).await;
        }
        notifier.notify(&event_of(source, &result)).await;
        match result {
            Ok(outcome) => {
                let m = &outcome.manifest;
                let status = if outcome.failed.is_empty() {
                    if let Some(err) = prune_failure {
                        tracing::error!(source = %source.name, "the backup succeeded, the prune after it failed: {}", err.message());
                        codes.push(Exit::Failure);
                    } else {
                        codes.push(Exit::Success);
                    }
                    "ok".to_string()
                } else {
                    for failure in &outcome.failed {
                        tracing::error!(source = %source.name, storage = %failure.storage, error = %crate::exit::describe(&failure.error), "storage missed the backup");
                    }
                    codes.push(Exit::Failure);
                    "partial".to_string()
                };
                tracing::info!(source = %source.name, id = %m.id, raw_bytes = m.artifact.raw_bytes,
                    stored_bytes = m.artifact.stored_bytes, duration_ms = m.duration_ms, "backup complete");
                table.add_row(vec![
                    source.name.clone(),
                    status,
                    m.id.to_string(),
                    output::size(m.artifact.raw_bytes),
                    output::size(m.artifact.stored_bytes),
                    output::ratio(m.ratio()),
                    output::duration_ms(m.duration_ms),
                    outcome.stored_in.join(", "),
                ]);
            }
            Err(err) => {
                tracing::error!(source = %source.name, "backup failed: {}", err.message());
                codes.push(err.exit);
                table.add_row(vec![
                    source.name.clone(),
                    "FAILED".to_string(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ]);
            }
        }
    }
    crate::output::print(&table);
    if notifier.failures() > 0 {
        tracing::error!(
            "{} notification(s) could not be delivered (the backups are not affected)",
            notifier.failures()
        );
    }
    metrics.record_notification_failures(notifier.failures());
    let succeeded = codes.iter().filter(|c| **c == Exit::Success).count();
    let exit = match succeeded {
        n if n == codes.len() => Exit::Success,
        0 => Exit::worst(codes),
        _ => Exit::Partial,
    };
    match metrics_file {
        Some(path) => Ok(write_metrics(&metrics, path, exit)),
        None => Ok(exit),
    }
}

/// What the metrics record of one source's backup: a success only when the backup reached
/// every storage (a prune failing after it does not undo the backup). The duration is the
/// manifest's when there is one, else the time the attempt took.
fn record_of(result: &Result<BackupOutcome, CliError>, elapsed: Duration) -> BackupRecord {
    let finished_at_unix = time::OffsetDateTime::now_utc().unix_timestamp();
    match result {
        Ok(outcome) => {
            let m = &outcome.manifest;
            BackupRecord {
                success: outcome.failed.is_empty(),
                duration_seconds: Duration::from_millis(m.duration_ms).as_secs_f64(),
                raw_bytes: Some(m.artifact.raw_bytes),
                stored_bytes: Some(m.artifact.stored_bytes),
                finished_at_unix,
            }
        }
        Err(_) => BackupRecord {
            success: false,
            duration_seconds: elapsed.as_secs_f64(),
            raw_bytes: None,
            stored_bytes: None,
            finished_at_unix,
        },
    }
}

/// Writes the metrics file; a failure is logged and turns a successful run's exit into 1
/// (a run that already failed keeps its own, more telling code).
fn write_metrics(metrics: &Metrics, path: &Path, exit: Exit) -> Exit {
    let written = metrics
        .encode_textfile()
        .map_err(|_| std::io::Error::other("cannot encode the metrics"))
        .and_then(|text| crate::metrics::write_textfile(path, &text));
    match written {
        Ok(()) => {
            tracing::debug!(path = %path.display(), "metrics written");
            exit
        }
        Err(err) => {
            tracing::error!(path = %path.display(), "cannot write the metrics file: {err}");
            if exit == Exit::Success {
                Exit::Failure
            } else {
                exit
            }
        }
    }
}

/// After a failed run: the last-success gauges from the newest backup in storage, so a
/// `--metrics-file` written by this run still says when the source last succeeded.
async fn last_success_from_catalog(config: &Config, source: &SourceConfig, metrics: &Metrics) {
    let Ok(sinks) = storage::for_source(config, source, None) else {
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

/// The notification for one source's backup: a partial backup (some storage missed it) is a
/// failure.
pub(crate) fn event_of(
    source: &SourceConfig,
    result: &Result<BackupOutcome, CliError>,
) -> BackupEvent {
    match result {
        Ok(outcome) => {
            let kind = if outcome.failed.is_empty() {
                EventKind::Success
            } else {
                EventKind::Failure
            };
            let m = &outcome.manifest;
            let mut event = BackupEvent::new(kind, &source.name, source.store.kind());
            event.backup_id = Some(m.id.to_string());
            event.raw_bytes = Some(m.artifact.raw_bytes);
            event.stored_bytes = Some(m.artifact.stored_bytes);
            event.duration_ms = Some(m.duration_ms);
            event.storages = outcome.stored_in.clone();
            if !outcome.failed.is_empty() {
                event.error = Some(
                    outcome
                        .failed
                        .iter()
                        .map(|f| crate::exit::describe(&f.error))
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
            event
        }
        Err(err) => {
            let mut event = BackupEvent::new(EventKind::Failure, &source.name, source.store.kind());
            event.error = Some(err.message());
            event
        }
    }
}

/// Backs up one source under its lock; with `prune = "after-backup"` and a fully successful
/// backup, prunes under the same lock. Returns the backup and, separately, a failed prune.
pub(crate) async fn backup_one(
    config: &Config,
    source_config: &SourceConfig,
    transforms: &[Box<dyn Transform>],
) -> Result<(BackupOutcome, Option<CliError>), CliError> {
    let source = registry::source_for(source_config)?;
    let sinks = storage::for_source(config, source_config, None)?;
    // Lock each storage on its own: one that cannot be reached misses this backup (reported
    // like a failed upload) instead of stopping it everywhere; one held by another run stops it.
    let mut guards = Vec::new();
    let mut locked = Vec::new();
    let mut lock_failures = Vec::new();
    for sink in &sinks {
        match crate::locking::lock(
            config,
            std::slice::from_ref(sink),
            &source_config.name,
            "backup",
        )
        .await
        {
            Ok(guard) => {
                guards.push(guard);
                locked.push(std::sync::Arc::clone(sink));
            }
            Err(err) if err.exit == Exit::Locked => {
                for guard in guards {
                    crate::locking::unlock(guard, &source_config.name).await;
                }
                return Err(err);
            }
            Err(err) => {
                tracing::error!(source = %source_config.name, storage = %sink.name(), "cannot lock this storage, it misses this backup: {}", err.message());
                lock_failures.push(StorageFailure {
                    storage: sink.name().to_string(),
                    error: Error::Storage {
                        storage: sink.name().to_string(),
                        error: SinkError::backend(
                            "lock",
                            backup_core::lock::lock_key(&source_config.name),
                            err.message(),
                        ),
                    },
                });
            }
        }
    }
    if locked.is_empty() {
        return Err(CliError::failure(format!(
            "no storage of `{}` could be locked: {}",
            source_config.name,
            lock_failures
                .iter()
                .map(|f| crate::exit::describe(&f.error))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    let result = backup_locked(source_config, source.as_ref(), &locked, transforms)
        .await
        .map(|mut outcome| {
            outcome.failed.extend(lock_failures);
            outcome
        });
    let prune_failure = match &result {
        Ok(outcome)
            if outcome.failed.is_empty() && source_config.prune == PruneWhen::AfterBackup =>
        {
            super::prune::prune_source(source_config, &locked, false)
                .await
                .err()
        }
        _ => None,
    };
    for guard in guards {
        crate::locking::unlock(guard, &source_config.name).await;
    }
    result.map(|outcome| (outcome, prune_failure))
}

async fn backup_locked(
    source_config: &SourceConfig,
    source: &dyn backup_core::Source,
    sinks: &[std::sync::Arc<dyn backup_core::Sink>],
    transforms: &[Box<dyn Transform>],
) -> Result<BackupOutcome, CliError> {
    let source_err = |error| Error::Source {
        name: source_config.name.clone(),
        error,
    };
    let preflight = source.preflight().await.map_err(source_err)?;
    let bar = progress::bar(&source_config.name, preflight.estimated_bytes);
    let result = run_backup(BackupRequest {
        source_name: &source_config.name,
        source,
        transforms,
        sinks,
        size_hint: preflight.estimated_bytes,
        progress: bar.clone().map(|b| b as _),
    })
    .await;
    if let Some(bar) = bar {
        bar.finish();
    }
    let outcome = result?;
    warn_if_secrets_unencrypted(&source_config.name, &outcome.manifest);
    Ok(outcome)
}

/// A dump that holds credentials (a RabbitMQ export carries its users' password hashes) and
/// went to storage unencrypted gets a warning of its own, besides the run's general one.
fn warn_if_secrets_unencrypted(source: &str, manifest: &backup_core::Manifest) {
    let holds_secrets =
        manifest.metadata.get("contains_password_hashes") == Some(&serde_json::Value::Bool(true));
    if holds_secrets && !manifest.is_encrypted() {
        tracing::warn!(
            source,
            id = %manifest.id,
            "this backup holds password hashes and is NOT encrypted: anyone who can read the \
             storage can attack them offline; add [encryption] (see `lifeboat keygen`)"
        );
    }
}
