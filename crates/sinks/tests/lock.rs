//! Conditional create (`put_if_absent`) and locks on real backends: a local fs (tempdir) and,
//! when reachable, an S3-compatible server (moto, `LIFEBOAT_TEST_S3_ENDPOINT`, default
//! `http://127.0.0.1:9000`; skipped with a notice when unreachable unless
//! `LIFEBOAT_REQUIRE_SERVICES=1`).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use backup_core::lock::{self, LockOptions, PutIfAbsent};
use backup_core::Sink;
use bytes::Bytes;
use common::{assert_created_once, fs_sink, listed};
use lifeboat_sinks::TMP_DIR_NAME;

/// `n` concurrent acquires of one source; each through its own sink built by `make` (as
/// separate processes would). Returns how many won, after releasing the winners' locks.
async fn race(n: usize, make: impl Fn() -> Arc<dyn Sink>) -> usize {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let sinks = vec![make()];
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
    let count = winners.len();
    for guard in winners {
        guard.release().await.unwrap();
    }
    count
}

#[tokio::test]
async fn fs_put_if_absent_creates_once_privately_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    let sink = fs_sink(&root);
    let key = "orders/lock.json";
    assert_created_once(&sink, key).await;
    assert_eq!(listed(&sink, "").await, vec![key]);
    let temp_entries = std::fs::read_dir(root.join(TMP_DIR_NAME)).unwrap().count();
    assert_eq!(temp_entries, 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root.join(key)), 0o600);
        assert_eq!(mode(&root.join("orders")), 0o700);
    }
    // Invalid keys are refused as for every other operation.
    assert!(sink.put_if_absent("../x", Bytes::new()).await.is_err());
    sink.delete(key).await.unwrap();
    assert_eq!(
        sink.put_if_absent(key, Bytes::from_static(b"third"))
            .await
            .unwrap(),
        PutIfAbsent::Created
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_concurrent_acquires_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    for _ in 0..10 {
        let winners = race(8, || Arc::new(fs_sink(&root)) as Arc<dyn Sink>).await;
        assert_eq!(winners, 1);
        assert!(!root.join("orders/lock.json").exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_concurrent_put_if_absent_has_exactly_one_creator() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    for round in 0..10 {
        let key = format!("orders/k{round}");
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let sink = fs_sink(&root);
                let key = key.clone();
                tokio::spawn(
                    async move { sink.put_if_absent(&key, Bytes::from(vec![i; 64])).await },
                )
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            if task.await.unwrap().unwrap() == PutIfAbsent::Created {
                created += 1;
            }
        }
        assert_eq!(created, 1);
        // The content is one writer's, whole.
        let data = std::fs::read(root.join(&key)).unwrap();
        assert_eq!(data.len(), 64);
        assert!(data.iter().all(|b| *b == data[0]));
    }
}

#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_put_if_absent_and_concurrent_locks() {
    let Some(bucket) = common::TestBucket::create().await else {
        return;
    };
    let sink = bucket.sink(None);
    let key = "orders/k";
    assert_created_once(&sink, key).await;
    sink.delete(key).await.unwrap();

    for _ in 0..5 {
        let winners = race(8, || Arc::new(bucket.sink(None)) as Arc<dyn Sink>).await;
        assert_eq!(winners, 1);
        assert!(sink.stat("orders/lock.json").await.unwrap().is_none());
    }

    bucket.remove().await;
}
