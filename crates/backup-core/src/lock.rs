//! Locks: one run at a time per source and storage.
//!
//! A backup, prune or restore of a source first takes a lock object in every storage it uses,
//! `<source>/lock.json` ([`lock_key`]), beside the source's backup folders. The catalog and
//! prune ignore it: they only consider `<source>/<backup id>/...`.
//!
//! The lock names its holder ([`LockInfo`]: host, pid, start time, operation, tool version)
//! and carries a random token, so that [`LockGuard::release`] only ever deletes a lock that is
//! still its own.
//!
//! # Taking over a stale lock
//!
//! The lock also records the holder's process start time and the host's boot id
//! ([`crate::process`]), so that a pid reused after the holder died (or after a reboot) is not
//! mistaken for it. An existing lock is taken over (with a `tracing` warning naming the old
//! holder and why) when
//! - its holder ran on **this host** (same `gethostname`) and `/proc` shows it is gone: no
//!   process has its pid, the host rebooted since (another boot id), or the pid now belongs to
//!   another process (another start time);
//! - or it is older than [`LockOptions::stale_after`] (6 hours by default), whatever the host,
//!   unless it is **provably alive and the same process**: same host, same boot, same pid,
//!   same start time. Such a holder keeps its lock however long its run takes.
//!
//! Locks written by earlier versions carry no start time nor boot id: they are judged by pid
//! (a dead one is taken over at once) and by age (a live pid proves nothing). Where there is
//! no `/proc` (other systems) only the age rule applies.
//!
//! Otherwise [`acquire`] fails with [`LockError::Held`], which the CLI maps to **exit 11**
//! (see [`LockError::is_held`]).
//!
//! # Races
//!
//! Locks are created with [`Sink::put_if_absent`] (a create-only-if-absent: `If-None-Match: *`
//! on S3, GCS and Azure, an atomic hard link on a local fs), so of several runs acquiring a free
//! lock at once exactly one wins. Two narrower windows remain, documented honestly:
//! - **taking over a stale lock** is "re-read, check it is still the same stale lock, delete,
//!   create-if-absent". Two runs taking over the same stale lock at once are serialised by the
//!   create; only if one run's re-read → delete straddles the other's delete → create could the
//!   later delete remove the fresh lock. A read-back after creating narrows this further;
//! - a storage **without** conditional create ([`PutIfAbsent::Unsupported`]) falls back to
//!   "check absent, write, read back and compare the token": two runs whose write and read-back
//!   do not interleave can both win. Every lifeboat backend supports conditional create.
//!
//! # Example
//!
//! ```
//! # use std::sync::Arc;
//! use backup_core::lock::{self, LockOptions};
//! # use lifeboat_testing::MemorySink;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let storage: Arc<dyn backup_core::Sink> = Arc::new(MemorySink::new("local"));
//! let storages = [storage];
//! let options = LockOptions::default();
//!
//! let guard = lock::acquire(&storages, "orders", "backup", &options).await?;
//! // A second run of the same source is refused, naming the holder.
//! let err = lock::acquire(&storages, "orders", "prune", &options).await.err().expect("held");
//! assert!(err.is_held());
//! assert!(err.to_string().contains("backup"));
//!
//! guard.release().await?;
//! lock::acquire(&storages, "orders", "prune", &options).await?.release().await?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::process::{self, Liveness, ProcRoot};
pub use crate::sink::PutIfAbsent;
use crate::{Error, Sink, SinkError};

/// The name of the lock object in a source's folder.
pub const LOCK_FILE: &str = "lock.json";

/// The `format` field of a lock object.
pub const LOCK_FORMAT: &str = "lifeboat-lock/1";

/// How old a lock must be to be taken over whatever its host, by default.
pub const DEFAULT_STALE_AFTER: Duration = Duration::hours(6);

/// How many times [`acquire`] retries one storage when the lock changes under it (a lock
/// released or taken over between two requests).
const ATTEMPTS: usize = 4;

/// The key of `source`'s lock: `<source>/lock.json`.
pub fn lock_key(source: &str) -> String {
    format!("{}{LOCK_FILE}", crate::source_prefix(source))
}

/// Who holds a lock. Stored as JSON in the lock object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The holder's host name.
    pub host: String,
    /// The holder's process id on that host.
    pub pid: u32,
    /// When the holder took the lock (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// What the holder is doing: `backup`, `prune` or `restore`.
    pub operation: String,
    /// The holder's version, e.g. `lifeboat 0.1.0`.
    pub tool_version: String,
    /// The holder's process start time in clock ticks after boot (`/proc/<pid>/stat` field
    /// 22); absent in locks of earlier versions and where there is no `/proc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<u64>,
    /// The holder host's boot id (`/proc/sys/kernel/random/boot_id`); absent as
    /// `process_start` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

impl LockInfo {
    /// A description of this process doing `operation`, now.
    fn current(operation: &str) -> Self {
        let stamp = process::current();
        Self {
            host: hostname(),
            pid: std::process::id(),
            started_at: OffsetDateTime::now_utc(),
            operation: operation.to_owned(),
            tool_version: format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
            process_start: stamp.as_ref().map(|s| s.start_ticks),
            boot_id: stamp.map(|s| s.boot_id),
        }
    }
}

/// `backup on host `db1` (pid 4242) since 2024-01-01T02:00:00Z`.
impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self
            .started_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.started_at.to_string());
        write!(
            f,
            "{} on host `{}` (pid {}) since {since}",
            self.operation, self.host, self.pid
        )
    }
}

/// The lock object as stored.
#[derive(Debug, Serialize, Deserialize)]
struct LockRecord {
    format: String,
    #[serde(flatten)]
    info: LockInfo,
    /// Random, per acquisition: only the run that wrote it may delete it.
    token: String,
}

/// How [`acquire`] treats existing locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOptions {
    /// A lock older than this is taken over whatever its host (default 6 hours: longer than
    /// any run should take).
    pub stale_after: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        Self {
            stale_after: DEFAULT_STALE_AFTER,
        }
    }
}

/// Why a lock could not be taken or released.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds the lock (exit 11, see [`LockError::is_held`]).
    #[error("locked in storage `{storage}` by {holder}")]
    Held {
        /// The storage where the lock is held.
        storage: String,
        /// Who holds it (boxed: it keeps every `Result` carrying a `LockError` small).
        holder: Box<LockInfo>,
    },
    /// A storage failed while locking or unlocking.
    #[error("lock: {0}")]
    Storage(#[source] Error),
    /// The lock object exists but is not a lifeboat lock (delete it by hand if no run is
    /// active).
    #[error("lock `{key}` in storage `{storage}` is unreadable: {reason}")]
    Invalid {
        /// The storage.
        storage: String,
        /// The lock's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl LockError {
    /// Whether another run holds the lock. The CLI maps this to exit code 11 ("locked by
    /// another run", README "Exit codes"); [`LockError::Storage`] maps through
    /// [`Error::class`], and anything else is exit 1.
    pub fn is_held(&self) -> bool {
        matches!(self, LockError::Held { .. })
    }

    fn storage(sink: &dyn Sink, error: SinkError) -> Self {
        LockError::Storage(Error::Storage {
            storage: sink.name().to_owned(),
            error,
        })
    }
}

/// Locks held in one or more storages. Release them with [`LockGuard::release`]; a guard
/// dropped without release releases in a background task when a tokio runtime is running
/// (best effort), else its locks stay until they are stale.
#[must_use = "a lock is held until `release` is awaited"]
pub struct LockGuard {
    held: Vec<Arc<dyn Sink>>,
    key: String,
    token: String,
    info: LockInfo,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.key)
            .field("storages", &self.storages())
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    /// Who this guard says holds the lock (this process).
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The storages where the lock is held, in order.
    pub fn storages(&self) -> Vec<String> {
        self.held.iter().map(|s| s.name().to_owned()).collect()
    }

    /// Deletes the lock objects this guard wrote, in every storage, if they are still ours
    /// (same token): a lock taken over meanwhile by another run is left alone, with a warning.
    /// Tries every storage; returns the first error.
    pub async fn release(mut self) -> Result<(), LockError> {
        let held = std::mem::take(&mut self.held);
        release_all(&held, &self.key, &self.token).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        let (key, token) = (self.key.clone(), self.token.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                tracing::debug!(
                    key,
                    "lock guard dropped without release: releasing in the background"
                );
                handle.spawn(async move {
                    if let Err(err) = release_all(&held, &key, &token).await {
                        tracing::warn!(key, error = %err, "could not release lock");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(
                    key,
                    "lock guard dropped outside a runtime: the lock stays until stale"
                );
            }
        }
    }
}

async fn release_all(held: &[Arc<dyn Sink>], key: &str, token: &str) -> Result<(), LockError> {
    let mut first_error = None;
    // Reverse order: the last lock taken is released first.
    for sink in held.iter().rev() {
        if let Err(err) = release_one(sink.as_ref(), key, token).await {
            tracing::warn!(storage = sink.name(), key, error = %err, "could not release lock");
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn release_one(sink: &dyn Sink, key: &str, token: &str) -> Result<(), LockError> {
    match read_lock(sink, key).await? {
        None => {
            tracing::warn!(storage = sink.name(), key, "lock already gone at release");
            Ok(())
        }
        Some(Ok(record)) if record.token == token => sink
            .delete(key)
            .await
            .map_err(|err| LockError::storage(sink, err)),
        Some(Ok(record)) => {
            tracing::warn!(
                storage = sink.name(),
                key,
                holder = %record.info,
                "lock was taken over by another run; leaving it"
            );
            Ok(())
        }
        Some(Err(reason)) => {
            tracing::warn!(
                storage = sink.name(),
                key,
                reason,
                "lock unreadable at release; leaving it"
            );
            Ok(())
        }
    }
}

/// Takes `source`'s lock in every storage of `sinks`, in order, for `operation` (`backup`,
/// `prune` or `restore`). If one storage's lock is held, the locks already taken are released
/// and [`LockError::Held`] names the holder.
pub async fn acquire(
    sinks: &[Arc<dyn Sink>],
    source: &str,
    operation: &str,
    options: &LockOptions,
) -> Result<LockGuard, LockError> {
    let info = LockInfo::current(operation);
    let mut token = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut token);
    let record = LockRecord {
        format: LOCK_FORMAT.to_owned(),
        info: info.clone(),
        token: hex::encode(token),
    };
    let key = lock_key(source);
    let body =
        Bytes::from(
            serde_json::to_vec_pretty(&record).map_err(|err| LockError::Invalid {
                storage: String::new(),
                key: key.clone(),
                reason: format!("cannot encode the lock: {err}"),
            })?,
        );
    let mut guard = LockGuard {
        held: Vec::new(),
        key,
        token: record.token,
        info,
    };
    for sink in sinks {
        match acquire_one(sink.as_ref(), &guard.key, &guard.token, &body, options).await {
            Ok(()) => guard.held.push(Arc::clone(sink)),
            Err(err) => {
                if let Err(release_err) = guard.release().await {
                    tracing::warn!(error = %release_err, "could not release the locks already taken");
                }
                return Err(err);
            }
        }
    }
    Ok(guard)
}

/// Takes the lock in one storage.
async fn acquire_one(
    sink: &dyn Sink,
    key: &str,
    token: &str,
    body: &Bytes,
    options: &LockOptions,
) -> Result<(), LockError> {
    for _ in 0..ATTEMPTS {
        let created = match sink
            .put_if_absent(key, body.clone())
            .await
            .map_err(|err| LockError::storage(sink, err))?
        {
            PutIfAbsent::Created => true,
            PutIfAbsent::Exists => false,
            PutIfAbsent::Unsupported => put_then_compare(sink, key, body).await?,
        };
        // Read back even after a create: a retried request may report our own lock as
        // existing, and a concurrent take-over may have replaced it.
        let existing = match read_lock(sink, key).await? {
            // Released between our create attempt and the read: try again.
            None => continue,
            Some(Err(reason)) => {
                return Err(LockError::Invalid {
                    storage: sink.name().to_owned(),
                    key: key.to_owned(),
                    reason,
                })
            }
            Some(Ok(record)) => record,
        };
        if existing.token == token {
            return Ok(());
        }
        if created {
            // Someone replaced the lock we created: they hold it now.
            return Err(LockError::Held {
                storage: sink.name().to_owned(),
                holder: Box::new(existing.info),
            });
        }
        match staleness(&existing.info, options) {
            None => {
                return Err(LockError::Held {
                    storage: sink.name().to_owned(),
                    holder: Box::new(existing.info),
                })
            }
            Some(why) => {
                tracing::warn!(
                    storage = sink.name(),
                    key,
                    holder = %existing.info,
                    "taking over a stale lock: {why}"
                );
                take_over(sink, key, &existing.token).await?;
            }
        }
    }
    Err(LockError::Storage(Error::Storage {
        storage: sink.name().to_owned(),
        error: SinkError::backend(
            "lock",
            key,
            format!("the lock kept changing during {ATTEMPTS} attempts"),
        ),
    }))
}

/// Fallback for storages without conditional create: write only if absent, then let the
/// caller read back and compare the token. Returns whether we wrote.
async fn put_then_compare(sink: &dyn Sink, key: &str, body: &Bytes) -> Result<bool, LockError> {
    let exists = sink
        .stat(key)
        .await
        .map_err(|err| LockError::storage(sink, err))?
        .is_some();
    if exists {
        return Ok(false);
    }
    sink.put(key, body.clone())
        .await
        .map_err(|err| LockError::storage(sink, err))?;
    Ok(true)
}

/// Deletes the stale lock whose token is `stale_token`, unless it changed meanwhile.
async fn take_over(sink: &dyn Sink, key: &str, stale_token: &str) -> Result<(), LockError> {
    match read_lock(sink, key).await? {
        Some(Ok(record)) if record.token == stale_token => sink
            .delete(key)
            .await
            .map_err(|err| LockError::storage(sink, err)),
        // Gone or replaced: the next attempt looks again.
        _ => Ok(()),
    }
}

/// Why a lock held by `holder` may be taken over, or `None` if it may not.
///
/// A holder on this host that `/proc` shows is gone (dead pid, another boot, another process
/// under its pid) loses its lock at once. Past `stale_after` any lock is taken over unless
/// its holder is provably alive and the same process (same host, boot, pid and start time):
/// a 7-hour dump must not be joined by a second run, but a pid that merely looks alive (a lock
/// of an earlier version, another host, no `/proc`) proves nothing.
fn staleness(holder: &LockInfo, options: &LockOptions) -> Option<String> {
    staleness_in(&ProcRoot::default(), &hostname(), holder, options)
}

fn staleness_in(
    proc: &ProcRoot,
    this_host: &str,
    holder: &LockInfo,
    options: &LockOptions,
) -> Option<String> {
    if holder.host == this_host {
        let pid = holder.pid;
        match proc.judge(pid, holder.process_start, holder.boot_id.as_deref()) {
            Liveness::Dead => return Some(format!("process {pid} is gone on this host")),
            Liveness::Rebooted => {
                return Some(format!("this host rebooted since process {pid} took it"))
            }
            Liveness::Reused => {
                return Some(format!(
                    "pid {pid} now belongs to another process (its start time differs)"
                ))
            }
            Liveness::Same => return None,
            Liveness::AliveUnproven | Liveness::Unknown => {}
        }
    }
    let age = OffsetDateTime::now_utc() - holder.started_at;
    if age > options.stale_after {
        return Some(format!(
            "it is older than {} (stale_after)",
            options.stale_after
        ));
    }
    None
}

/// The lock at `key`: `None` if absent, `Some(Err(reason))` if it is not a lifeboat lock.
async fn read_lock(
    sink: &dyn Sink,
    key: &str,
) -> Result<Option<Result<LockRecord, String>>, LockError> {
    let data = match sink.get(key).await {
        Ok(data) => data,
        Err(SinkError::NotFound { .. }) => return Ok(None),
        Err(err) => return Err(LockError::storage(sink, err)),
    };
    // The reason quotes the stored bytes only as escaped, capped excerpts (a tampered lock must
    // not reach the terminal raw).
    let parsed = serde_json::from_slice::<LockRecord>(&data)
        .map_err(|err| lifeboat_edge::shown::Shown::new(err).to_string())
        .and_then(|record| {
            if record.format == LOCK_FORMAT {
                Ok(record)
            } else {
                Err(format!(
                    "unknown format `{}`",
                    lifeboat_edge::shown::excerpt_str(&record.format)
                ))
            }
        });
    Ok(Some(parsed))
}

/// This host's name, as recorded in locks and manifests.
fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_beside_the_backup_folders() {
        assert_eq!(lock_key("orders"), "orders/lock.json");
    }

    #[test]
    fn without_proc_only_age_frees_a_lock_of_this_host() {
        let proc = ProcRoot::at("/nonexistent-proc");
        let options = LockOptions::default();
        let mut holder = LockInfo::current("backup");
        assert_eq!(
            staleness_in(&proc, &holder.host.clone(), &holder, &options),
            None
        );
        holder.started_at -= Duration::hours(7);
        let why = staleness_in(&proc, &holder.host.clone(), &holder, &options);
        assert!(why.is_some_and(|w| w.contains("stale_after")));
    }

    #[test]
    fn display_names_the_holder() {
        let info = LockInfo {
            host: "db1".into(),
            pid: 4242,
            started_at: time::macros::datetime!(2024-01-01 02:00 UTC),
            operation: "backup".into(),
            tool_version: "lifeboat 0.1.0".into(),
            process_start: Some(7),
            boot_id: Some("b".into()),
        };
        assert_eq!(
            info.to_string(),
            "backup on host `db1` (pid 4242) since 2024-01-01T02:00:00Z"
        );
    }
}
