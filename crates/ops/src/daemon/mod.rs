//! The scheduler of `lifeboat daemon`, over the operations (never over CLI commands): each
//! source's `schedule` (backups) and `verify_schedule` (restore drills).
//!
//! - One loop per (source, job), sharing one mutex per source: a source never runs twice at
//!   once, not even its backup and its drill; a run that lasts past the next tick skips the
//!   ticks it overlapped (counted in `lifeboat_backup_skipped_total`).
//! - Schedules are evaluated in UTC.
//! - At most `[daemon] max_concurrent` jobs run at once; `jitter` delays each by a random
//!   amount up to it.
//! - [`start`] runs the loops until their cancellation token fires (they stop at their next
//!   wait; a running job finishes); [`drain`] waits for running jobs up to a grace period,
//!   then aborts them. An aborted backup is dropped before its manifest: it never becomes a
//!   backup, and its uploads are aborted.
//!
//! The process side (signals, reloading the config, the HTTP endpoints) is the binary's.

mod jobs;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use jobs::Job;

use crate::config::SourceConfig;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::schedule::Schedule;
use crate::Lifeboat;

/// How long aborted jobs' clean-up (upload aborts, lock releases) may take at shutdown.
const ABORT_CLEANUP: Duration = Duration::from_secs(2);

/// The most overlapped ticks counted as skipped after one long run.
const MAX_SKIPS_COUNTED: u32 = 10_000;

/// Starts one loop per scheduled (source, job) of `lifeboat`'s config, recording into
/// `metrics`; they stop when `cancel` fires.
pub fn start(
    lifeboat: &Lifeboat,
    metrics: &Arc<Metrics>,
    cancel: &CancellationToken,
) -> JoinSet<()> {
    let config = lifeboat.config();
    let permits = Arc::new(Semaphore::new(config.daemon.max_concurrent.max(1)));
    let notifier = Arc::new(Notifier::new(config.notify.clone()));
    let mut tasks = JoinSet::new();
    for source in &config.sources {
        // A source's backup and its restore drill never run at the same time either.
        let busy = Arc::new(tokio::sync::Mutex::new(()));
        for (job, schedule) in [
            (Job::Backup, &source.schedule),
            (Job::Verify, &source.verify_schedule),
        ] {
            let Some(schedule) = schedule.clone() else {
                continue;
            };
            let context = Loop {
                job,
                lifeboat: lifeboat.clone(),
                source: source.clone(),
                schedule,
                metrics: Arc::clone(metrics),
                notifier: Arc::clone(&notifier),
                permits: Arc::clone(&permits),
                busy: Arc::clone(&busy),
                cancel: cancel.clone(),
            };
            tasks.spawn(context.run());
        }
    }
    if tasks.is_empty() {
        tracing::warn!("no source has a `schedule` or `verify_schedule`: nothing to run");
    }
    tasks
}

/// Waits up to `grace` for running jobs, then aborts the rest, giving their clean-up a
/// moment before returning.
pub async fn drain(tasks: &mut JoinSet<()>, grace: Duration) {
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: waiting for running jobs"
    );
    let finished =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!("jobs still running after the grace period: aborting them (no manifest is written for an aborted backup)");
        tasks.shutdown().await;
        // Dropping a job starts its clean-up as tasks of their own (aborting uploads,
        // releasing locks): give them a moment before the runtime stops.
        tokio::time::sleep(ABORT_CLEANUP).await;
    }
}

/// The schedule loop of one (source, job).
struct Loop {
    job: Job,
    lifeboat: Lifeboat,
    source: SourceConfig,
    schedule: Schedule,
    metrics: Arc<Metrics>,
    notifier: Arc<Notifier>,
    permits: Arc<Semaphore>,
    busy: Arc<tokio::sync::Mutex<()>>,
    cancel: CancellationToken,
}

impl Loop {
    async fn run(self) {
        let mut after = OffsetDateTime::now_utc();
        loop {
            let Some(tick) = self.schedule.next_after(after) else {
                tracing::warn!(source = %self.source.name, "the schedule has no next tick");
                return;
            };
            let wait = (tick - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
            let wait = Duration::from_secs_f64(wait.as_seconds_f64()) + self.jitter();
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let busy = tokio::select! {
                _ = self.cancel.cancelled() => return,
                busy = self.busy.lock() => busy,
            };
            let permit = tokio::select! {
                _ = self.cancel.cancelled() => return,
                permit = Arc::clone(&self.permits).acquire_owned() => permit,
            };
            self.job
                .run(&self.lifeboat, &self.source, &self.metrics, &self.notifier)
                .await;
            drop(permit);
            drop(busy);
            let now = OffsetDateTime::now_utc();
            let skipped = self.schedule.ticks_between(tick, now, MAX_SKIPS_COUNTED);
            if skipped > 0 && self.job == Job::Backup {
                tracing::warn!(source = %self.source.name, skipped, "the run outlasted the next tick(s): skipped");
                for _ in 0..skipped {
                    self.metrics.record_skip(&self.source.name);
                }
            }
            after = now.max(tick);
        }
    }

    fn jitter(&self) -> Duration {
        match self.lifeboat.config().daemon.jitter.as_std() {
            Duration::ZERO => Duration::ZERO,
            max => rand::thread_rng().gen_range(Duration::ZERO..max),
        }
    }
}
