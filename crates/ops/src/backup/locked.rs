//! One source's backup under its locks: each storage is locked on its own, so one that cannot
//! be reached misses this backup (reported like a failed upload) instead of stopping it
//! everywhere, while one held by another run stops it (exit 11).

use std::sync::Arc;

use backup_core::lock::LockGuard;
use backup_core::pipeline::{run_backup, BackupRequest, StorageFailure};
use backup_core::transform::Transform;
use backup_core::{Error, Sink, SinkError};

use super::BackupDone;
use crate::config::{PruneWhen, SourceConfig};
use crate::observe::Shown;
use crate::{describe, locking, prune, storage, stores, Failure, Lifeboat, OpError};

/// Backs up `source` under its locks; with `prune = "after-backup"` and a complete backup,
/// prunes under the same locks.
pub(super) async fn backup_under_locks(
    lifeboat: &Lifeboat,
    source: &SourceConfig,
    transforms: &[Box<dyn Transform>],
) -> Result<BackupDone, OpError> {
    let dump = stores::source_of(source)?;
    let sinks = storage::for_source(lifeboat.config(), source, None)?;
    let (guards, locked, lock_failures) = lock_each(lifeboat, source, &sinks).await?;
    let result = back_up(lifeboat, source, dump.as_ref(), &locked, transforms).await;
    let result = match result {
        Ok(mut done) => {
            done.failed.extend(lock_failures);
            if done.is_complete() && source.prune == PruneWhen::AfterBackup {
                let mut sweep = prune::Sweep::default();
                done.prune = Some(
                    prune::prune_source(lifeboat.config(), source, &locked, false, &mut sweep)
                        .await,
                );
            }
            Ok(done)
        }
        Err(error) => Err(error),
    };
    // A storage that missed the backup may not be answering: its lock is released in the
    // background instead of making the run wait on it once more (README, "Configuration":
    // a silent storage is given up on once); a lock left behind is taken over by the next run.
    let missed: Vec<&str> = match &result {
        Ok(done) => done.failed.iter().map(|f| f.storage.as_str()).collect(),
        Err(_) => Vec::new(),
    };
    let (left, released): (Vec<_>, Vec<_>) = guards.into_iter().partition(|guard| {
        guard
            .storages()
            .iter()
            .any(|s| missed.contains(&s.as_str()))
    });
    drop(left);
    futures::future::join_all(
        released
            .into_iter()
            .map(|guard| locking::unlock(guard, &source.name)),
    )
    .await;
    result
}

/// Locks `source` in each storage on its own. A lock held by another run stops the backup
/// (the locks taken so far are released); a storage that cannot be locked otherwise is left
/// out and reported.
async fn lock_each(
    lifeboat: &Lifeboat,
    source: &SourceConfig,
    sinks: &[Arc<dyn Sink>],
) -> Result<(Vec<LockGuard>, Vec<Arc<dyn Sink>>, Vec<StorageFailure>), OpError> {
    let mut guards = Vec::new();
    let mut locked = Vec::new();
    let mut failures = Vec::new();
    for sink in sinks {
        let one = std::slice::from_ref(sink);
        match locking::lock(lifeboat.config(), one, &source.name, "backup").await {
            Ok(guard) => {
                guards.push(guard);
                locked.push(Arc::clone(sink));
            }
            Err(error) if error.failure() == Failure::Locked => {
                for guard in guards {
                    locking::unlock(guard, &source.name).await;
                }
                return Err(error);
            }
            Err(error) => {
                tracing::error!(source = %source.name, storage = %sink.name(),
                    "cannot lock this storage, it misses this backup: {}", describe(&error));
                failures.push(StorageFailure {
                    storage: sink.name().to_string(),
                    error: Error::Storage {
                        storage: sink.name().to_string(),
                        error: SinkError::backend(
                            "lock",
                            backup_core::lock::lock_key(&source.name),
                            error,
                        ),
                    },
                });
            }
        }
    }
    if locked.is_empty() {
        return Err(OpError::NothingLocked {
            source_name: source.name.clone(),
            reasons: failures
                .iter()
                .map(|f| describe(&f.error))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    Ok((guards, locked, failures))
}

/// The pipeline run itself, with a progress display.
async fn back_up(
    lifeboat: &Lifeboat,
    source: &SourceConfig,
    dump: &dyn backup_core::Source,
    sinks: &[Arc<dyn Sink>],
    transforms: &[Box<dyn Transform>],
) -> Result<BackupDone, OpError> {
    let preflight = dump.preflight().await.map_err(|error| Error::Source {
        name: source.name.clone(),
        error,
    })?;
    let shown = Shown::new(lifeboat.observer(), &source.name, preflight.estimated_bytes);
    let outcome = run_backup(BackupRequest {
        source_name: &source.name,
        source: dump,
        transforms,
        sinks,
        size_hint: preflight.estimated_bytes,
        progress: shown.progress(),
    })
    .await?;
    drop(shown);
    let manifest = outcome.manifest;
    if manifest.contains_password_hashes && !manifest.is_encrypted() {
        tracing::warn!(
            source = %source.name,
            id = %manifest.id,
            "this backup holds password hashes and is NOT encrypted: anyone who can read the \
             storage can attack them offline; add [encryption] (see `lifeboat keygen`)"
        );
    }
    Ok(BackupDone {
        manifest,
        stored_in: outcome.stored_in,
        failed: outcome.failed,
        prune: None,
    })
}
