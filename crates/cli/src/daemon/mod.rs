//! `lifeboat daemon`: runs each source's `schedule` (backups) and `verify_schedule` (restore
//! drills), serves `/metrics`, `/healthz` and `/readyz`.
//!
//! - One loop per (source, job), sharing one mutex per source: a source never runs twice at
//!   once, not even its backup and its restore drill; a run that lasts past the next tick skips
//!   the ticks it overlapped (counted in `lifeboat_backup_skipped_total`).
//! - Schedules are evaluated in UTC.
//! - At most `[daemon] max_concurrent` jobs run at once; `jitter_seconds` delays each by a
//!   random amount.
//! - SIGHUP reloads the config: loops stop at their next wait (a running job finishes), then
//!   start again from the new config; a config that does not load keeps the old one.
//! - SIGTERM/SIGINT: no new job starts; running ones get `shutdown_grace_seconds` to finish,
//!   then are aborted. An aborted backup is dropped before its manifest: it never becomes a
//!   backup, and its uploads are aborted.

mod http;
mod jobs;
mod schedule;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SourceConfig};
use crate::exit::{CliError, Exit};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use jobs::{run_job, Job};
use schedule::Schedule;

/// How long aborted jobs' clean-up (upload aborts, lock releases) may take at shutdown.
const ABORT_CLEANUP: Duration = Duration::from_secs(2);

/// The most overlapped ticks counted as skipped after one long run.
const MAX_SKIPS_COUNTED: u32 = 10_000;

/// Why the scheduling loops stopped.
enum Stop {
    Reload,
    Shutdown,
}

/// Runs until SIGTERM/SIGINT.
pub async fn run(
    config_path: &Path,
    listen: Option<std::net::SocketAddr>,
) -> Result<Exit, CliError> {
    let mut config = Arc::new(Config::load(config_path)?);
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let addr = listen.unwrap_or(config.daemon.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::failure(format!("cannot listen on {addr}: {e}")))?;
    let server_stop = CancellationToken::new();
    let server = {
        let app = http::router(http::HttpState {
            metrics: Arc::clone(&metrics),
            ready: Arc::clone(&ready),
        });
        let stop = server_stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        })
    };
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");

    let signal_err = |e: std::io::Error| CliError::failure(format!("cannot watch signals: {e}"));
    let mut hangup = signal(SignalKind::hangup()).map_err(signal_err)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_err)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_err)?;
    loop {
        let generation = CancellationToken::new();
        let mut tasks = start(&config, &metrics, &generation);
        ready.store(true, Ordering::SeqCst);
        let stop = tokio::select! {
            _ = hangup.recv() => Stop::Reload,
            _ = terminate.recv() => Stop::Shutdown,
            _ = interrupt.recv() => Stop::Shutdown,
        };
        generation.cancel();
        match stop {
            Stop::Reload => {
                tracing::info!("SIGHUP: reloading the config once running jobs finish");
                let drained = tokio::select! {
                    _ = async { while tasks.join_next().await.is_some() {} } => true,
                    _ = terminate.recv() => false,
                    _ = interrupt.recv() => false,
                };
                if !drained {
                    shutdown(&mut tasks, &config, &ready).await;
                    break;
                }
                match Config::load(config_path) {
                    Ok(new) => config = Arc::new(new),
                    Err(err) => {
                        tracing::error!("the new config does not load, keeping the old one: {err}")
                    }
                }
            }
            Stop::Shutdown => {
                let grace = Duration::from_secs(config.daemon.shutdown_grace_seconds);
                tracing::info!(
                    grace_seconds = grace.as_secs(),
                    "shutting down: waiting for running jobs"
                );
                ready.store(false, Ordering::SeqCst);
                let finished = tokio::time::timeout(grace, async {
                    while tasks.join_next().await.is_some() {}
                })
                .await;
                if finished.is_err() {
                    tracing::warn!("jobs still running after the grace period: aborting them (no manifest is written for an aborted backup)");
                    tasks.shutdown().await;
                }
                break;
            }
        }
    }
    server_stop.cancel();
    let _ = server.await;
    Ok(Exit::Success)
}

/// Stops the loops: running jobs get the grace period, then are aborted.
async fn shutdown(tasks: &mut JoinSet<()>, config: &Config, ready: &AtomicBool) {
    let grace = Duration::from_secs(config.daemon.shutdown_grace_seconds);
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: waiting for running jobs"
    );
    ready.store(false, Ordering::SeqCst);
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

/// Starts one loop per scheduled (source, job).
fn start(
    config: &Arc<Config>,
    metrics: &Arc<Metrics>,
    generation: &CancellationToken,
) -> JoinSet<()> {
    let permits = Arc::new(Semaphore::new(config.daemon.max_concurrent.max(1)));
    let notifier = Arc::new(Notifier::new(config.notify.clone()));
    let mut tasks = JoinSet::new();
    for source in &config.sources {
        // A source's backup and its restore drill never run at the same time either.
        let busy = Arc::new(tokio::sync::Mutex::new(()));
        for (job, pattern) in [
            (Job::Backup, &source.schedule),
            (Job::Verify, &source.verify_schedule),
        ] {
            let Some(schedule) = pattern.as_deref().and_then(Schedule::parse) else {
                continue;
            };
            let context = Loop {
                job,
                config: Arc::clone(config),
                source: source.clone(),
                schedule,
                metrics: Arc::clone(metrics),
                notifier: Arc::clone(&notifier),
                permits: Arc::clone(&permits),
                busy: Arc::clone(&busy),
                cancel: generation.clone(),
            };
            tasks.spawn(context.run());
        }
    }
    if tasks.is_empty() {
        tracing::warn!("no source has a `schedule` or `verify_schedule`: nothing to run");
    }
    tasks
}

/// The schedule loop of one (source, job).
struct Loop {
    job: Job,
    config: Arc<Config>,
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
            let jitter = match self.config.daemon.jitter_seconds {
                0 => Duration::ZERO,
                max => Duration::from_millis(rand::thread_rng().gen_range(0..max * 1000)),
            };
            let wait = (tick - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
            let wait = Duration::from_secs_f64(wait.as_seconds_f64()) + jitter;
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
            run_job(
                self.job,
                &self.config,
                &self.source,
                &self.metrics,
                &self.notifier,
            )
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
}
