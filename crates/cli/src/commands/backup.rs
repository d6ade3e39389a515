//! `lifeboat backup [NAME...]`: every selected source in turn, then a summary table.

use backup_core::pipeline::{run_backup, BackupOutcome, BackupRequest};
use backup_core::transform::Transform;
use backup_core::Error;

use super::select_sources;
use crate::config::{Config, PruneWhen, SourceConfig};
use crate::exit::{CliError, Exit};
use crate::notify::{BackupEvent, EventKind, Notifier};
use crate::{keys, output, progress, registry, storage};

/// Backs up the named sources (all when `names` is empty).
pub async fn run(config: &Config, names: &[String]) -> Result<Exit, CliError> {
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
    for source in sources {
        let (result, prune_failure) = match backup_one(config, source, &transforms).await {
            Ok((outcome, prune_failure)) => (Ok(outcome), prune_failure),
            Err(err) => (Err(err), None),
        };
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
    let succeeded = codes.iter().filter(|c| **c == Exit::Success).count();
    Ok(match succeeded {
        n if n == codes.len() => Exit::Success,
        0 => Exit::worst(codes),
        _ => Exit::Partial,
    })
}

/// The notification for one source's backup: a partial backup (some storage missed it) is a
/// failure.
fn event_of(source: &SourceConfig, result: &Result<BackupOutcome, CliError>) -> BackupEvent {
    match result {
        Ok(outcome) => {
            let kind = if outcome.failed.is_empty() {
                EventKind::Success
            } else {
                EventKind::Failure
            };
            let m = &outcome.manifest;
            let mut event = BackupEvent::new(kind, &source.name, source.kind.name());
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
            let mut event = BackupEvent::new(EventKind::Failure, &source.name, source.kind.name());
            event.error = Some(err.message());
            event
        }
    }
}

/// Backs up one source under its lock; with `prune = "after-backup"` and a fully successful
/// backup, prunes under the same lock. Returns the backup and, separately, a failed prune.
async fn backup_one(
    config: &Config,
    source_config: &SourceConfig,
    transforms: &[Box<dyn Transform>],
) -> Result<(BackupOutcome, Option<CliError>), CliError> {
    let source = registry::source_for(source_config)?;
    let sinks = storage::for_source(config, source_config, None)?;
    let guard = crate::locking::lock(&sinks, &source_config.name, "backup").await?;
    let result = backup_locked(source_config, source.as_ref(), &sinks, transforms).await;
    let prune_failure = match &result {
        Ok(outcome)
            if outcome.failed.is_empty() && source_config.prune == PruneWhen::AfterBackup =>
        {
            super::prune::prune_source(source_config, &sinks, false)
                .await
                .err()
        }
        _ => None,
    };
    crate::locking::unlock(guard, &source_config.name).await;
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
    Ok(result?)
}
