//! Taking a source's lock for an operation (backup, prune, restore).

use std::sync::Arc;

use backup_core::lock::{acquire, LockGuard, LockOptions};
use backup_core::Sink;

use crate::config::Config;
use crate::OpError;

/// Takes the lock of `source` in every storage of `sinks` for `operation`.
pub async fn lock(
    config: &Config,
    sinks: &[Arc<dyn Sink>],
    source: &str,
    operation: &str,
) -> Result<LockGuard, OpError> {
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
