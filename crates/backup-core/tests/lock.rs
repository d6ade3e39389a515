//! Locks: one run per source at a time, stale locks taken over, releases only delete our own
//! lock, and lock objects are invisible to the catalog and to prune.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use backup_core::catalog::list_manifests;
use backup_core::lock::{self, lock_key, LockError, LockOptions};
use backup_core::prune::plan_prune;
use backup_core::retention::KeepOptions;
use backup_core::{BoxReader, ObjectMeta, Sink, SinkError, SinkWriter};
use bytes::Bytes;
use common::{backup, BytesSource};
use lifeboat_testing::MemorySink;
use time::{Duration, OffsetDateTime};

const KEY: &str = "orders/lock.json";

fn this_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// A lock object as another run would have written it.
fn foreign_lock(host: &str, pid: u32, started_at: OffsetDateTime, token: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "format": "lifeboat-lock/1",
        "host": host,
        "pid": pid,
        "started_at": started_at.format(&time::format_description::well_known::Rfc3339).unwrap(),
        "operation": "prune",
        "tool_version": "lifeboat 0.0.1",
        "token": token,
    }))
    .unwrap()
}

fn storages(sinks: &[&MemorySink]) -> Vec<Arc<dyn Sink>> {
    sinks
        .iter()
        .map(|s| Arc::new((*s).clone()) as Arc<dyn Sink>)
        .collect()
}

fn held(result: Result<lock::LockGuard, LockError>) -> (String, lock::LockInfo) {
    match result {
        Err(LockError::Held { storage, holder }) => (storage, *holder),
        Err(other) => panic!("expected Held, got {other}"),
        Ok(guard) => panic!("expected Held, got a lock: {guard:?}"),
    }
}

#[tokio::test]
async fn second_acquire_is_held_naming_the_holder_until_release() {
    let sink = MemorySink::new("local");
    let sinks = storages(&[&sink]);
    let options = LockOptions::default();

    let guard = lock::acquire(&sinks, "orders", "backup", &options)
        .await
        .unwrap();
    assert_eq!(lock_key("orders"), KEY);
    assert_eq!(sink.keys(), vec![KEY.to_string()]);
    assert_eq!(guard.storages(), vec!["local".to_string()]);

    let err = lock::acquire(&sinks, "orders", "restore", &options)
        .await
        .unwrap_err();
    assert!(err.is_held());
    let message = err.to_string();
    assert!(message.contains("backup"), "{message}");
    assert!(message.contains(&this_host()), "{message}");
    assert!(
        message.contains(&std::process::id().to_string()),
        "{message}"
    );
    assert!(message.contains("since"), "{message}");
    assert!(message.contains("`local`"), "{message}");
    let LockError::Held { holder, .. } = err else {
        unreachable!()
    };
    assert_eq!(holder.operation, "backup");
    assert_eq!(holder.pid, std::process::id());

    // Another source is independent.
    lock::acquire(&sinks, "cache", "backup", &options)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();

    guard.release().await.unwrap();
    assert!(sink.keys().is_empty());
    let again = lock::acquire(&sinks, "orders", "prune", &options)
        .await
        .unwrap();
    assert_eq!(again.info().operation, "prune");
    again.release().await.unwrap();
}

#[tokio::test]
async fn lock_of_a_dead_process_on_this_host_is_taken_over() {
    let sink = MemorySink::new("local");
    // Far above any pid_max: no such process.
    sink.set_object(
        KEY,
        foreign_lock(
            &this_host(),
            4_000_000_000,
            OffsetDateTime::now_utc(),
            "old",
        ),
    );
    let guard = lock::acquire(
        &storages(&[&sink]),
        "orders",
        "backup",
        &LockOptions::default(),
    )
    .await
    .unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&sink.object(KEY).unwrap()).unwrap();
    assert_eq!(stored["pid"], std::process::id());
    assert_ne!(stored["token"], "old");
    guard.release().await.unwrap();
    assert!(sink.keys().is_empty());
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn lock_of_a_live_process_on_this_host_is_held() {
    let sink = MemorySink::new("local");
    // pid 1 always exists.
    sink.set_object(
        KEY,
        foreign_lock(&this_host(), 1, OffsetDateTime::now_utc(), "t"),
    );
    let (storage, holder) = held(
        lock::acquire(
            &storages(&[&sink]),
            "orders",
            "backup",
            &LockOptions::default(),
        )
        .await,
    );
    assert_eq!((storage.as_str(), holder.pid), ("local", 1));
}

#[tokio::test]
async fn lock_from_another_host_is_held_while_fresh_and_taken_over_when_old() {
    let sink = MemorySink::new("local");
    let sinks = storages(&[&sink]);
    let options = LockOptions {
        stale_after: Duration::hours(1),
    };
    let recent = OffsetDateTime::now_utc() - Duration::minutes(59);
    // A pid that does not exist here: irrelevant on another host.
    sink.set_object(KEY, foreign_lock("elsewhere", 4_000_000_000, recent, "t"));
    let (_, holder) = held(lock::acquire(&sinks, "orders", "backup", &options).await);
    assert_eq!(holder.host, "elsewhere");
    assert_eq!(holder.operation, "prune");
    assert_eq!(holder.started_at.unix_timestamp(), recent.unix_timestamp());

    let old = OffsetDateTime::now_utc() - Duration::minutes(61);
    sink.set_object(KEY, foreign_lock("elsewhere", 1, old, "t"));
    let guard = lock::acquire(&sinks, "orders", "backup", &options)
        .await
        .unwrap();
    guard.release().await.unwrap();
}

#[tokio::test]
async fn release_leaves_a_lock_that_was_taken_over() {
    let sink = MemorySink::new("local");
    let guard = lock::acquire(
        &storages(&[&sink]),
        "orders",
        "backup",
        &LockOptions::default(),
    )
    .await
    .unwrap();
    let theirs = foreign_lock("elsewhere", 7, OffsetDateTime::now_utc(), "theirs");
    sink.set_object(KEY, theirs.clone());
    guard.release().await.unwrap();
    assert_eq!(sink.object(KEY).unwrap(), Bytes::from(theirs));
}

#[tokio::test]
async fn a_lock_that_is_not_a_lock_is_an_error_not_a_take_over() {
    let sink = MemorySink::new("local");
    sink.set_object(KEY, "not json");
    let err = lock::acquire(
        &storages(&[&sink]),
        "orders",
        "backup",
        &LockOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LockError::Invalid { .. }), "{err}");
    assert!(!err.is_held());
    assert_eq!(sink.object(KEY).unwrap(), Bytes::from_static(b"not json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acquires_have_exactly_one_winner() {
    for _ in 0..20 {
        let sink = MemorySink::new("local");
        let sinks = storages(&[&sink]);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let sinks = sinks.clone();
                tokio::spawn(async move {
                    lock::acquire(&sinks, "orders", "backup", &LockOptions::default()).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(guard) => winners.push(guard),
                Err(err) => assert!(err.is_held(), "{err}"),
            }
        }
        assert_eq!(winners.len(), 1);
        winners.pop().unwrap().release().await.unwrap();
        assert!(sink.keys().is_empty());
    }
}

#[tokio::test]
async fn held_on_the_second_storage_releases_the_first() {
    let first = MemorySink::new("local");
    let second = MemorySink::new("offsite");
    second.set_object(
        KEY,
        foreign_lock("elsewhere", 7, OffsetDateTime::now_utc(), "t"),
    );
    let sinks = storages(&[&first, &second]);
    let (storage, holder) =
        held(lock::acquire(&sinks, "orders", "backup", &LockOptions::default()).await);
    assert_eq!(storage, "offsite");
    assert_eq!(holder.host, "elsewhere");
    assert!(first.keys().is_empty(), "{:?}", first.keys());
    assert_eq!(second.keys(), vec![KEY.to_string()]);

    // Both free: both locked, both released.
    second.remove_object(KEY);
    let guard = lock::acquire(&sinks, "orders", "backup", &LockOptions::default())
        .await
        .unwrap();
    assert_eq!(guard.storages(), vec!["local", "offsite"]);
    assert_eq!(first.keys(), vec![KEY.to_string()]);
    assert_eq!(second.keys(), vec![KEY.to_string()]);
    guard.release().await.unwrap();
    assert!(first.keys().is_empty() && second.keys().is_empty());
}

#[tokio::test]
async fn dropped_guard_releases_in_the_background() {
    let sink = MemorySink::new("local");
    let guard = lock::acquire(
        &storages(&[&sink]),
        "orders",
        "backup",
        &LockOptions::default(),
    )
    .await
    .unwrap();
    drop(guard);
    for _ in 0..100 {
        if sink.keys().is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("lock not released after drop: {:?}", sink.keys());
}

#[tokio::test]
async fn locks_are_neither_backups_nor_prune_leftovers() {
    // The common backup helper backs up source `app`.
    const APP_KEY: &str = "app/lock.json";
    let sink = MemorySink::new("local");
    let sinks = storages(&[&sink]);
    let made = backup(&BytesSource::new(vec![1; 100]), &[], &sinks)
        .await
        .unwrap();
    let guard = lock::acquire(&sinks, "app", "prune", &LockOptions::default())
        .await
        .unwrap();
    // Backdate the lock so a zero grace period would remove it if it counted as a leftover.
    let lock = sink.object(APP_KEY).unwrap();
    sink.set_object_at(
        APP_KEY,
        lock,
        OffsetDateTime::now_utc() - Duration::days(30),
    );

    let listing = list_manifests(&sink, None).await.unwrap();
    assert!(listing.errors.is_empty());
    assert_eq!(listing.manifests.len(), 1);
    assert_eq!(listing.manifests[0].id, made.manifest.id);
    let listing = list_manifests(&sink, Some("app")).await.unwrap();
    assert_eq!(listing.manifests.len(), 1);

    let plan = plan_prune(
        &sinks,
        "app",
        &KeepOptions::default(),
        OffsetDateTime::now_utc(),
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert!(plan.leftovers.is_empty(), "{:?}", plan.leftovers);
    assert_eq!(plan.backups.len(), 1);
    guard.release().await.unwrap();
}

/// A storage without conditional create: the default `put_if_absent`.
struct PlainSink(MemorySink);

#[async_trait]
impl Sink for PlainSink {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    async fn open_write(
        &self,
        key: &str,
        size_hint: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        self.0.open_write(key, size_hint).await
    }
    async fn open_read(&self, key: &str) -> Result<BoxReader, SinkError> {
        self.0.open_read(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, SinkError> {
        self.0.list(prefix).await
    }
    async fn stat(&self, key: &str) -> Result<Option<ObjectMeta>, SinkError> {
        self.0.stat(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        self.0.delete(key).await
    }
    async fn get(&self, key: &str) -> Result<Bytes, SinkError> {
        self.0.get(key).await
    }
}

#[tokio::test]
async fn storages_without_conditional_create_fall_back_to_write_and_compare() {
    let inner = MemorySink::new("plain");
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(PlainSink(inner.clone()))];
    assert_eq!(
        sinks[0].put_if_absent("x", Bytes::new()).await.unwrap(),
        lock::PutIfAbsent::Unsupported
    );
    assert!(inner.keys().is_empty());
    let options = LockOptions::default();
    let guard = lock::acquire(&sinks, "orders", "backup", &options)
        .await
        .unwrap();
    assert!(lock::acquire(&sinks, "orders", "backup", &options)
        .await
        .unwrap_err()
        .is_held());
    guard.release().await.unwrap();
    assert!(inner.keys().is_empty());
}

#[tokio::test]
async fn memory_sink_put_if_absent_creates_once() {
    let sink = MemorySink::new("m");
    let put = |data: &'static [u8]| sink.put_if_absent("a/b", Bytes::from_static(data));
    assert_eq!(put(b"1").await.unwrap(), lock::PutIfAbsent::Created);
    assert_eq!(put(b"2").await.unwrap(), lock::PutIfAbsent::Exists);
    assert_eq!(sink.object("a/b").unwrap(), Bytes::from_static(b"1"));
}

/// A lock as this version writes it, with the holder's process start time and boot id.
fn stamped_lock(pid: u32, start: u64, boot_id: &str, started_at: OffsetDateTime) -> Vec<u8> {
    let mut lock: serde_json::Value =
        serde_json::from_slice(&foreign_lock(&this_host(), pid, started_at, "t")).unwrap();
    lock["process_start"] = start.into();
    lock["boot_id"] = boot_id.into();
    serde_json::to_vec(&lock).unwrap()
}

fn dated_2020() -> OffsetDateTime {
    time::macros::datetime!(2020-03-01 02:00 UTC)
}

async fn acquire_default(sink: &MemorySink) -> Result<lock::LockGuard, LockError> {
    lock::acquire(
        &storages(&[sink]),
        "orders",
        "backup",
        &LockOptions::default(),
    )
    .await
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_lock_from_2020_whose_pid_is_now_another_live_process_is_taken() {
    // After a reboot pid 1 (or any pid) is alive again, but it is not the holder.
    let sink = MemorySink::new("local");
    sink.set_object(KEY, foreign_lock(&this_host(), 1, dated_2020(), "old"));
    let guard = acquire_default(&sink).await.unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&sink.object(KEY).unwrap()).unwrap();
    assert_eq!(stored["pid"], std::process::id());
    guard.release().await.unwrap();

    // The same with this version's format: pid 1's recorded start time is not its own.
    let me = backup_core::process::current().unwrap();
    let pid1 = backup_core::process::ProcRoot::default()
        .start_ticks(1)
        .unwrap();
    sink.set_object(KEY, stamped_lock(1, pid1 + 1, &me.boot_id, dated_2020()));
    acquire_default(&sink)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_fresh_lock_whose_pid_was_reused_or_whose_boot_is_over_is_taken() {
    let sink = MemorySink::new("local");
    let me = backup_core::process::current().unwrap();
    let now = OffsetDateTime::now_utc();
    // A live pid (ours) with another start time: another process now has it.
    sink.set_object(
        KEY,
        stamped_lock(me.pid, me.start_ticks + 1, &me.boot_id, now),
    );
    acquire_default(&sink)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    // Another boot: whatever runs under that pid now, the holder died with the reboot.
    sink.set_object(
        KEY,
        stamped_lock(
            me.pid,
            me.start_ticks,
            "00000000-0000-0000-0000-000000000000",
            now,
        ),
    );
    acquire_default(&sink)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_live_holder_that_is_provably_the_same_process_keeps_its_lock_however_old() {
    // A long run (a 7-hour dump) must not be joined by a second one: this very process, with
    // its own start time and boot id, holding a lock dated 2020.
    let sink = MemorySink::new("local");
    let me = backup_core::process::current().unwrap();
    sink.set_object(
        KEY,
        stamped_lock(me.pid, me.start_ticks, &me.boot_id, dated_2020()),
    );
    let (_, holder) = held(acquire_default(&sink).await);
    assert_eq!(holder.pid, me.pid);
    assert_eq!(holder.process_start, Some(me.start_ticks));
    assert_eq!(holder.boot_id.as_deref(), Some(me.boot_id.as_str()));
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_old_format_lock_is_judged_by_pid_and_age() {
    let sink = MemorySink::new("local");
    // Live pid, fresh: held (it may be a run of the earlier version).
    sink.set_object(
        KEY,
        foreign_lock(&this_host(), 1, OffsetDateTime::now_utc(), "t"),
    );
    let (_, holder) = held(acquire_default(&sink).await);
    assert_eq!(
        (holder.pid, holder.process_start, holder.boot_id),
        (1, None, None)
    );
    // Live pid, older than stale_after: nothing proves it is the holder, taken.
    sink.set_object(
        KEY,
        foreign_lock(
            &this_host(),
            1,
            OffsetDateTime::now_utc() - Duration::hours(7),
            "t",
        ),
    );
    acquire_default(&sink)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

#[tokio::test]
async fn locks_record_the_holders_start_time_and_boot() {
    let sink = MemorySink::new("local");
    let guard = acquire_default(&sink).await.unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&sink.object(KEY).unwrap()).unwrap();
    if let Some(me) = backup_core::process::current() {
        assert_eq!(stored["process_start"], me.start_ticks);
        assert_eq!(stored["boot_id"], me.boot_id.as_str());
        assert_eq!(guard.info().process_start, Some(me.start_ticks));
    }
    guard.release().await.unwrap();
}
