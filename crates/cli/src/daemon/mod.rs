//! `lifeboat daemon [--listen ADDR]`: the process side of the scheduler in
//! `lifeboat::daemon` — it serves `/metrics`, `/healthz` and `/readyz`, and handles signals:
//!
//! - SIGHUP reloads the config: loops stop at their next wait (a running job finishes), then
//!   start again from the new config; a config that does not load keeps the old one.
//! - SIGTERM/SIGINT: no new job starts; running ones get `[daemon] shutdown_grace` to finish,
//!   then are aborted. An aborted backup is dropped before its manifest: it never becomes a
//!   backup, and its uploads are aborted.

mod http;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lifeboat::metrics::Metrics;
use lifeboat::{Config, Lifeboat};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::exit::{CliError, Exit};

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
        .map_err(|error| CliError::Listen { addr, error })?;
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

    let signal_err = CliError::Signals;
    let mut hangup = signal(SignalKind::hangup()).map_err(signal_err)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_err)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_err)?;
    loop {
        let generation = CancellationToken::new();
        let lifeboat = Lifeboat::shared(Arc::clone(&config));
        let mut tasks = lifeboat::daemon::start(&lifeboat, &metrics, &generation);
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
                    ready.store(false, Ordering::SeqCst);
                    lifeboat::daemon::drain(&mut tasks, config.daemon.shutdown_grace.as_std())
                        .await;
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
                ready.store(false, Ordering::SeqCst);
                lifeboat::daemon::drain(&mut tasks, config.daemon.shutdown_grace.as_std()).await;
                break;
            }
        }
    }
    server_stop.cancel();
    let _ = server.await;
    Ok(Exit::Success)
}
