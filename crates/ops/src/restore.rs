//! Restore: the selected backup from the first storage whose copy works (the target stages
//! everything, so a failed attempt changed nothing), under the source's lock.
//!
//! `--dry-run` changes nothing. A store whose targets report a dry run themselves
//! ([`Capabilities::dry_run`](backup_core::store::Capabilities)) says what it would create,
//! find or conflict with; for the others the backup is read through the format check and the
//! target's own `prepare` says whether the restore would be refused.

use std::sync::Arc;

use backup_core::catalog::{catalog, CatalogEntry, Selector};
use backup_core::pipeline::{run_check, run_restore, RestoreRequest as PipelineRequest};
use backup_core::transform::Keyring;
use backup_core::{BackupId, ErrorClass, Report, RestoreOptions, Sink, Target};
use time::OffsetDateTime;

use crate::config::SourceConfig;
use crate::observe::Shown;
use crate::{describe, keys, locking, storage, stores, Failure, Lifeboat, OpError};

/// What to restore, and where.
#[derive(Debug, Clone)]
pub struct RestoreRequest<'a> {
    /// The source whose backup to restore.
    pub source: &'a str,
    /// Which backup.
    pub selector: Selector,
    /// Somewhere else than the source's own location (a path or URL, as the store says).
    pub to: Option<&'a str>,
    /// Overwrite a target that holds data.
    pub force: bool,
    /// Change nothing; say what the restore would do.
    pub dry_run: bool,
    /// Only this storage.
    pub storage: Option<&'a str>,
}

/// A restore (or dry run) that worked.
#[derive(Debug)]
pub struct RestoreOutcome {
    /// The source.
    pub source: String,
    /// The backup restored.
    pub id: BackupId,
    /// When that backup started.
    pub started_at: OffsetDateTime,
    /// The storage whose copy was read.
    pub storage: String,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// What the target (or the check) reported.
    pub report: Report,
}

impl Lifeboat {
    /// Restores one backup; tries the next storage holding it when a copy is damaged or
    /// unreachable.
    pub async fn restore(&self, request: &RestoreRequest<'_>) -> Result<RestoreOutcome, OpError> {
        let source = self.source(request.source)?;
        let target = stores::target_of(source, request.to)?;
        let sinks = storage::for_source(self.config(), source, request.storage)?;
        // The lock keeps a prune from removing the backup while it is read. A storage that
        // cannot take it (a read-only disk) cannot be pruned either: restore without it.
        let guard = match locking::lock(self.config(), &sinks, &source.name, "restore").await {
            Ok(guard) => Some(guard),
            Err(error) if error.failure() == Failure::Locked => return Err(error),
            Err(error) => {
                tracing::warn!(source = %source.name, "restoring without a lock: {}", describe(&error));
                None
            }
        };
        let result = self
            .select_and_restore(request, source, &sinks, target.as_ref())
            .await;
        if let Some(guard) = guard {
            locking::unlock(guard, &source.name).await;
        }
        result
    }

    /// Under the lock: picks the backup from the catalog and restores it.
    async fn select_and_restore(
        &self,
        request: &RestoreRequest<'_>,
        source: &SourceConfig,
        sinks: &[Arc<dyn Sink>],
        target: &dyn Target,
    ) -> Result<RestoreOutcome, OpError> {
        let found = catalog(sinks, &source.name).await;
        for error in &found.errors {
            // Not only a log line: with `latest`, an unreadable storage may hide a newer one.
            self.observer().warning(&format!(
                "the catalog is incomplete, a newer backup may exist: {}",
                describe(error)
            ));
        }
        let Some(entry) = found.select(&request.selector) else {
            return Err(OpError::NoBackup {
                which: match &request.selector {
                    Selector::Latest => "no backup".to_string(),
                    Selector::Id(id) => format!("no backup with id {id}"),
                },
                source_name: source.name.clone(),
                storages: sinks
                    .iter()
                    .map(|s| s.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let keyring = keys::keyring_for(self.config(), &entry.manifest)?;
        let options = RestoreOptions {
            force: request.force,
            dry_run: request.dry_run,
        };
        self.restore_entry(sinks, source, entry, target, &keyring, &options)
            .await
    }

    /// Restores `entry` from the first copy that works.
    async fn restore_entry(
        &self,
        sinks: &[Arc<dyn Sink>],
        source: &SourceConfig,
        entry: &CatalogEntry,
        target: &dyn Target,
        keyring: &Keyring,
        options: &RestoreOptions,
    ) -> Result<RestoreOutcome, OpError> {
        let mut last_error = None;
        for (index, copy) in entry.copies.iter().enumerate() {
            let Some(sink) = sinks.iter().find(|s| s.name() == copy.storage) else {
                continue;
            };
            let manifest = &copy.manifest;
            tracing::info!(source = %source.name, id = %manifest.id, storage = %copy.storage,
                target = %target.describe(), "restoring");
            let shown = Shown::new(
                self.observer(),
                &source.name,
                Some(manifest.artifact.stored_bytes),
            );
            let request = PipelineRequest {
                sink: sink.as_ref(),
                manifest,
                keyring,
                progress: shown.progress(),
            };
            let result = if options.dry_run && !source.store.capabilities().dry_run {
                dry_run_by_check(&request, source, target, options).await
            } else {
                run_restore(&request, target, options)
                    .await
                    .map_err(OpError::from)
            };
            drop(shown);
            match result {
                Ok(report) => {
                    return Ok(RestoreOutcome {
                        source: source.name.clone(),
                        id: manifest.id.clone(),
                        started_at: manifest.started_at,
                        storage: copy.storage.clone(),
                        dry_run: options.dry_run,
                        report,
                    })
                }
                Err(error) if worth_another_copy(&error) && index + 1 < entry.copies.len() => {
                    tracing::warn!(storage = %copy.storage,
                        "this copy cannot be restored ({}); trying the next storage", describe(&error));
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| OpError::NoCopy {
            id: entry.manifest.id.to_string(),
            source_name: source.name.clone(),
        }))
    }
}

/// A damaged or unreachable copy may be fine elsewhere; a refusal or a wrong key is not.
fn worth_another_copy(error: &OpError) -> bool {
    match error {
        OpError::Pipeline(error) => {
            matches!(error.class(), ErrorClass::Integrity)
                || matches!(error, backup_core::Error::Storage { .. })
        }
        _ => false,
    }
}

/// `--dry-run` for a target that cannot report more than its format check: the backup is
/// read through the check, and the target's own emptiness test says whether the restore would
/// be refused.
async fn dry_run_by_check(
    request: &PipelineRequest<'_>,
    source: &SourceConfig,
    target: &dyn Target,
    options: &RestoreOptions,
) -> Result<Report, OpError> {
    let check = stores::check_of(source, false)?;
    let mut report = run_check(request, check.as_ref()).await?;
    let verdict = match target.prepare(request.manifest, options).await {
        Ok(()) => format!("would restore to {}", target.describe()),
        Err(err) => format!("would be refused: {err}"),
    };
    report.summary = format!("{}; {verdict}", report.summary);
    Ok(report)
}
