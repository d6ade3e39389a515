//! Prune: apply each source's retention and remove leftovers of failed runs, under the
//! source's lock (a plan alone takes no lock, so it also works on a read-only storage).

use std::sync::Arc;

use backup_core::prune::{
    execute_prune, plan_prune, PrunePlan, PruneReport, DEFAULT_LEFTOVER_GRACE,
};
use backup_core::Sink;
use time::OffsetDateTime;

use crate::config::SourceConfig;
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
    /// Keep or remove, with reasons, for every backup copy and leftover.
    pub plan: PrunePlan,
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

impl Lifeboat {
    /// Prunes the selected sources, each under its lock (unless `dry_run`).
    pub async fn prune(&self, request: &PruneRequest<'_>) -> Result<Vec<SourcePrune>, OpError> {
        let mut done = Vec::new();
        for source in self.select_one_or_all(request.source)? {
            let sinks = storage::for_source(self.config(), source, request.storage)?;
            let result = if request.dry_run {
                prune_source(source, &sinks, true).await
            } else {
                match locking::lock(self.config(), &sinks, &source.name, "prune").await {
                    Ok(guard) => {
                        let result = prune_source(source, &sinks, false).await;
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
/// source's lock. Also used by backup for sources with `prune = "after-backup"`.
pub(crate) async fn prune_source(
    source: &SourceConfig,
    sinks: &[Arc<dyn Sink>],
    dry_run: bool,
) -> Result<PruneOutcome, OpError> {
    let policy = source.retention.clone().unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let plan = plan_prune(sinks, &source.name, &policy, now, DEFAULT_LEFTOVER_GRACE).await?;
    let removed = if dry_run {
        None
    } else {
        Some(execute_prune(&plan, sinks).await.map_err(OpError::from))
    };
    Ok(PruneOutcome {
        source: source.name.clone(),
        plan,
        now,
        dry_run,
        removed,
    })
}
