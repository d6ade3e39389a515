//! Taking a source's lock for a command (backup, prune, restore): exit 11 names the holder.

use std::sync::Arc;

use backup_core::lock::{acquire, LockError, LockGuard, LockOptions};
use backup_core::Sink;

use crate::config::Config;
use crate::exit::{CliError, Exit};

impl From<LockError> for CliError {
    fn from(error: LockError) -> Self {
        let exit = match &error {
            LockError::Held { .. } => Exit::Locked,
            LockError::Storage(inner) => Exit::of(inner),
            _ => Exit::Failure,
        };
        Self {
            exit,
            error: error.into(),
        }
    }
}

/// Takes the lock of `source` in every storage of `sinks` for `operation`.
pub async fn lock(
    config: &Config,
    sinks: &[Arc<dyn Sink>],
    source: &str,
    operation: &str,
) -> Result<LockGuard, CliError> {
    let mut options = LockOptions::default();
    if let Some(stale_after) = &config.locks.stale_after {
        options.stale_after = stale_after.as_time();
    }
    Ok(acquire(sinks, source, operation, &options).await?)
}

/// Releases a lock; a failure only warns (the lock goes stale and is taken over later).
pub async fn unlock(guard: LockGuard, source: &str) {
    if let Err(err) = guard.release().await {
        tracing::warn!(source, "could not release the lock: {err}");
    }
}
