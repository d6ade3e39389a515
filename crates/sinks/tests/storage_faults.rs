//! Storages that hang or refuse: a storage that accepts connections and never answers (a
//! [`BlackHole`]) is dropped within its deadlines, retries included, while the healthy storage
//! gets the backup and its manifest; a refusal from the service shows as one short line.
//! The timeouts here are short (1 s) so the tests take seconds; the defaults' arithmetic is a
//! unit test of `timeouts.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use backup_core::catalog::list_manifests;
use backup_core::pipeline::{run_backup, BackupRequest};
use backup_core::{DeadlineExceeded, Sink, SinkError};
use bytes::Bytes;
use lifeboat_edge::HumanDuration;
use lifeboat_sinks::{OpendalSink, S3Storage, Secret, SecretUrl, ServiceError, StorageConfig};
use lifeboat_testing::{BlackHole, BytesSource};

/// An S3 storage named `offsite` whose endpoint is `hole`, with 1 s timeouts and one retry.
fn black_holed_s3(hole: &BlackHole) -> OpendalSink {
    let config = StorageConfig::S3(S3Storage {
        bucket: "backups".to_owned(),
        endpoint: Some(SecretUrl::new(hole.url())),
        access_key_id: Some(Secret::new("AKIABLACKHOLE")),
        secret_access_key: Some(Secret::new("black-hole-secret")),
        timeout: Some(HumanDuration::from_secs(1)),
        io_timeout: Some(HumanDuration::from_secs(1)),
        retries: Some(1),
        ..S3Storage::default()
    });
    OpendalSink::new("offsite", &config).unwrap()
}

/// Whether `error` says the storage did not answer in time (the sink's deadline or OpenDAL's
/// timeout layer, whichever came first), and never dumps headers or secrets.
fn is_no_answer(error: &(dyn std::error::Error + 'static)) -> bool {
    let shown = error.to_string();
    assert!(!shown.contains("headers"), "{shown}");
    assert!(!shown.contains("black-hole-secret"), "{shown}");
    let mut next = Some(error);
    while let Some(err) = next {
        if err.is::<DeadlineExceeded>() {
            return true;
        }
        if err
            .downcast_ref::<ServiceError>()
            .is_some_and(|e| e.to_string().starts_with("no answer within"))
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// The worst case the pipeline may wait on `sink`, and a bit: a test that hangs fails instead.
fn guard(sink: &OpendalSink) -> Duration {
    sink.deadlines().drop_after() * 3 + Duration::from_secs(5)
}

async fn backup_to_fs_and_black_hole(data: Vec<u8>) {
    let hole = BlackHole::start();
    let root = tempfile::tempdir().unwrap();
    let offsite = black_holed_s3(&hole);
    let bound = guard(&offsite);
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(common::fs_sink(root.path())), Arc::new(offsite)];
    let source = BytesSource::new(data.clone());
    let run = run_backup(BackupRequest {
        source_name: "app",
        source: &source,
        transforms: &[],
        sinks: &sinks,
        size_hint: None,
        progress: None,
    });
    let outcome = tokio::time::timeout(bound, run)
        .await
        .expect("the backup waited on the black hole past its deadlines")
        .unwrap();

    assert_eq!(outcome.stored_in, vec!["local".to_owned()]);
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].storage, "offsite");
    assert!(
        is_no_answer(&outcome.failed[0].error),
        "{}",
        outcome.failed[0].error
    );
    assert!(
        hole.accepted() > 0,
        "the S3 storage never reached the black hole"
    );

    // The fs storage holds a complete, listed backup: data and manifest.
    let listed = list_manifests(sinks[0].as_ref(), Some("app"))
        .await
        .unwrap();
    assert_eq!(listed.manifests.len(), 1, "{listed:?}");
    assert_eq!(listed.manifests[0].id, outcome.manifest.id);
    let key = &outcome.manifest.artifact.key;
    assert_eq!(common::read_all(sinks[0].as_ref(), key).await, data);
}

/// A small backup: the first request to S3 is its single `PUT`, at close.
#[tokio::test]
async fn a_black_holed_storage_is_dropped_at_close_and_the_fs_one_gets_its_manifest() {
    backup_to_fs_and_black_hole(common::random_bytes(64 * 1024, 1)).await;
}

/// A backup larger than a part: S3 is first asked to start a multipart upload, mid-stream.
#[tokio::test]
async fn a_black_holed_storage_is_dropped_mid_stream_and_the_fs_one_gets_its_manifest() {
    backup_to_fs_and_black_hole(common::random_bytes(20 * 1024 * 1024, 2)).await;
}

/// Every small call (those of locks, manifests, catalogs) ends with an error within the
/// storage's deadline.
#[tokio::test]
async fn every_call_to_a_black_holed_storage_ends_in_time() {
    let hole = BlackHole::start();
    let sink = black_holed_s3(&hole);
    let bound = guard(&sink);
    let key = "app/.lock";
    let data = Bytes::from_static(b"{}");
    let within = |name: &'static str| {
        move |result: Result<Result<(), SinkError>, tokio::time::error::Elapsed>| {
            let error = result.unwrap_or_else(|_| panic!("{name} waited past its deadline"));
            let error = error.expect_err(name);
            assert!(is_no_answer(&error), "{name}: {error}");
        }
    };
    within("list")(tokio::time::timeout(bound, async { sink.list("app/").await.map(drop) }).await);
    within("stat")(tokio::time::timeout(bound, async { sink.stat(key).await.map(drop) }).await);
    within("get")(tokio::time::timeout(bound, async { sink.get(key).await.map(drop) }).await);
    within("put")(tokio::time::timeout(bound, sink.put(key, data.clone())).await);
    within("put_if_absent")(
        tokio::time::timeout(bound, async {
            sink.put_if_absent(key, data.clone()).await.map(drop)
        })
        .await,
    );
    within("delete")(tokio::time::timeout(bound, sink.delete(key)).await);
    within("open_read")(
        tokio::time::timeout(bound, async { sink.open_read(key).await.map(drop) }).await,
    );
}

/// A refusal of the S3 server (moto: a missing bucket, 404 `NoSuchBucket`) shows as the
/// status, the service's code and message: one short line, no header dump.
#[tokio::test]
async fn a_refusal_from_s3_renders_in_one_short_line() {
    let Some(bucket) = common::TestBucket::create().await else {
        return;
    };
    let StorageConfig::S3(mut config) = bucket.config(None) else {
        unreachable!()
    };
    config.bucket = format!("{}-missing", bucket.name);
    let sink = OpendalSink::new("offsite", &StorageConfig::S3(config)).unwrap();
    for error in [
        sink.list("app/").await.unwrap_err(),
        sink.put("app/x/manifest.json", Bytes::from_static(b"{}"))
            .await
            .unwrap_err(),
    ] {
        let mut shown = error.to_string();
        let mut cause = std::error::Error::source(&error);
        // As `lifeboat::describe` renders an error: its causes, each unless already shown.
        while let Some(err) = cause {
            let text = err.to_string();
            if !shown.contains(&text) {
                shown.push_str(&format!(": {text}"));
            }
            cause = err.source();
        }
        assert!(shown.contains("HTTP 404"), "{shown}");
        assert!(shown.contains("NoSuchBucket"), "{shown}");
        assert!(shown.contains("does not exist"), "{shown}");
        for dump in ["headers", "x-amz", "Parts {", "request_id"] {
            assert!(!shown.contains(dump), "`{dump}` in: {shown}");
        }
        assert!(shown.len() < 200, "{} chars: {shown}", shown.len());
    }
    bucket.remove().await;
}
