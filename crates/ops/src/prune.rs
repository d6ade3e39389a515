//! Prune: apply each source's retention and remove leftovers of failed runs, under the
//! source's lock (a plan alone takes no lock, so it also works on a read-only storage).
//!
//! Leftovers go only once past `[prune] leftover_grace`, judged by their modification time.
//! A source's own leftovers are collected under its lock; the storages' temp areas, shared by
//! every source, and the scratch copies in this host's temp folder belong to no lock, so their
//! age alone decides — each is swept once per run, with the first source that reaches it.

use std::collections::BTreeSet;
use std::sync::Arc;

use backup_core::leftovers::scratch::{find_scratch, remove_scratch, ScratchCopy};
use backup_core::prune::{
    execute_prune, plan_internal_leftovers, plan_prune, PrunePlan, PruneReport,
};
use backup_core::Sink;
use time::OffsetDateTime;

use crate::config::{Config, SourceConfig};
use crate::{locking, storage, Failure, Lifeboat, OpError};

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PruneRequest<'a> {
    /// Only this source (default: all).
    pub source: Option<&'a str>,
    /// Plan only: remove nothing.
    pub dry_run: bool,
    /// Only this storage.
    pub storage: Option<&'a str>,
}

/// The prune of one source: its plan, and what removing it did.
#[derive(Debug)]
pub struct PruneOutcome {
    /// The source.
    pub source: String,
    /// Keep or remove, with reasons, for every backup copy and leftover (the storages' temp
    /// areas included, in the outcome of the first source that swept them).
    pub plan: PrunePlan,
    /// Scratch copies found in this host's temp folder (in the first source's outcome).
    pub scratch: Vec<ScratchCopy>,
    /// The time the plan was made for.
    pub now: OffsetDateTime,
    /// Whether this was a plan only.
    pub dry_run: bool,
    /// What the removal did (`None` for a plan only). A failure stops the removal: what was
    /// removed before it stays removed, nothing after it is touched.
    pub removed: Option<Result<PruneReport, OpError>>,
}

impl PruneOutcome {
    /// Whether the removal failed.
    pub fn failure(&self) -> Option<Failure> {
        match &self.removed {
            Some(Err(error)) => Some(error.failure()),
            _ => None,
        }
    }
}

/// One source of a prune run: its outcome, or why it could not be planned or locked.
#[derive(Debug)]
pub struct SourcePrune {
    /// The source.
    pub source: String,
    /// The outcome.
    pub result: Result<PruneOutcome, OpError>,
}

impl SourcePrune {
    /// Whether this source's prune failed, and how.
    pub fn failure(&self) -> Option<Failure> {
        match &self.result {
            Ok(outcome) => outcome.failure(),
            Err(error) => Some(error.failure()),
        }
    }
}

/// What a prune run has swept already: the storages' temp areas and the host's temp folder
/// are looked at once per run, not once per source.
#[derive(Debug, Default)]
pub(crate) struct Sweep {
    storages: BTreeSet<String>,
    scratch_done: bool,
}

impl Lifeboat {
    /// Prunes the selected sources, each under its lock (unless `dry_run`).
    pub async fn prune(&self, request: &PruneRequest<'_>) -> Result<Vec<SourcePrune>, OpError> {
        let mut done = Vec::new();
        let mut sweep = Sweep::default();
        for source in self.select_one_or_all(request.source)? {
            let sinks = storage::for_source(self.config(), source, request.storage)?;
            let result = if request.dry_run {
                prune_source(self.config(), source, &sinks, true, &mut sweep).await
            } else {
                match locking::lock(self.config(), &sinks, &source.name, "prune").await {
                    Ok(guard) => {
                        let result =
                            prune_source(self.config(), source, &sinks, false, &mut sweep).await;
                        locking::unlock(guard, &source.name).await;
                        result
                    }
                    Err(error) => Err(error),
                }
            };
            done.push(SourcePrune {
                source: source.name.clone(),
                result,
            });
        }
        Ok(done)
    }
}

/// Plans and (unless `dry_run`) carries out the prune of one source; the caller holds the
/// source's lock. Also used by backup for sources with `prune = "after-backup"` (with a
/// fresh [`Sweep`]).
pub(crate) async fn prune_source(
    config: &Config,
    source: &SourceConfig,
    sinks: &[Arc<dyn Sink>],
    dry_run: bool,
    sweep: &mut Sweep,
) -> Result<PruneOutcome, OpError> {
    let policy = source.retention.clone().unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let grace = config.prune.leftover_grace.as_time();
    let mut plan = plan_prune(sinks, &source.name, &policy, now, grace).await?;
    let unswept: Vec<Arc<dyn Sink>> = sinks
        .iter()
        .filter(|sink| sweep.storages.insert(sink.name().to_string()))
        .cloned()
        .collect();
    plan.leftovers
        .extend(plan_internal_leftovers(&unswept, now, grace).await?);
    let scratch = if std::mem::replace(&mut sweep.scratch_done, true) {
        Vec::new()
    } else {
        host_scratch(now, grace).await
    };
    let removed = if dry_run {
        None
    } else {
        let removed = execute_prune(&plan, sinks).await.map_err(OpError::from);
        Some(match removed {
            Ok(mut report) => {
                let stale = scratch.iter().filter(|c| c.remove).count();
                let found = scratch.clone();
                match tokio::task::spawn_blocking(move || remove_scratch(&found)).await {
                    Ok(Ok(freed)) => {
                        report.leftovers_removed += stale;
                        report.leftover_bytes_freed += freed;
                    }
                    Ok(Err(error)) => {
                        tracing::warn!("could not remove a stale scratch copy: {error}")
                    }
                    Err(error) => tracing::warn!("could not remove stale scratch copies: {error}"),
                }
                Ok(report)
            }
            Err(error) => Err(error),
        })
    };
    Ok(PruneOutcome {
        source: source.name.clone(),
        plan,
        scratch,
        now,
        dry_run,
        removed,
    })
}

/// The scratch copies in this host's temp folder; one that cannot be looked at only warns
/// (the temp folder is not a storage: it must not fail a prune).
async fn host_scratch(now: OffsetDateTime, grace: time::Duration) -> Vec<ScratchCopy> {
    let dir = std::env::temp_dir();
    let shown = dir.display().to_string();
    match tokio::task::spawn_blocking(move || find_scratch(&dir, now, grace)).await {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => {
            tracing::warn!(dir = %shown, "could not look for stale scratch copies: {error}");
            Vec::new()
        }
        Err(error) => {
            tracing::warn!(dir = %shown, "could not look for stale scratch copies: {error}");
            Vec::new()
        }
    }
}
