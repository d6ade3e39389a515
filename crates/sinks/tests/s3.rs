//! The s3 backend against a real S3-compatible server (moto: `moto_server -H 127.0.0.1 -p 9000`).
//!
//! `LIFEBOAT_TEST_S3_ENDPOINT` sets the endpoint (default `http://127.0.0.1:9000`); credentials
//! are `test`/`test` in `us-east-1`. An unreachable server skips these tests with a notice,
//! unless `LIFEBOAT_REQUIRE_SERVICES=1`. Each test uses its own bucket and removes it.
#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use backup_core::{Sink, SinkError, MAX_SMALL_OBJECT};
use bytes::Bytes;
use common::{assert_missing, listed, random_bytes, read_all, TestBucket};
use lifeboat_sinks::chunking::{part_count, MIN_CHUNK_SIZE};
use lifeboat_sinks::{chunk_size, OpendalSink, S3Storage, Secret, SecretUrl, StorageConfig};

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_multipart_object_round_trips_and_lists_stats_deletes() {
    let Some(bucket) = TestBucket::create().await else {
        return;
    };
    let sink = bucket.sink(None);
    assert_eq!(sink.describe(), format!("s3://{}", bucket.name));

    // 20 MiB with an exact hint: 8 MiB parts, so 3 parts (8 + 8 + 4).
    let size = 20 * MIB;
    let hint = Some(size as u64);
    assert_eq!(chunk_size(hint) as u64, MIN_CHUNK_SIZE);
    assert_eq!(part_count(size as u64, chunk_size(hint)), 3);

    let data = random_bytes(size, 11);
    let key = "orders/20240101T020000Z-abcd/data.dump.zst.age";
    let mut writer = sink.open_write(key, hint).await.unwrap();
    // Irregular chunks that straddle part boundaries.
    for chunk in data.chunks(MIB + 4321) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(
        sink.stat(key).await.unwrap(),
        None,
        "invisible before close"
    );
    writer.close().await.unwrap();

    // A multipart object's ETag ends with its part count.
    let etag = bucket.etag(key).await;
    assert!(etag.ends_with("-3"), "not a 3-part upload: {etag}");

    assert_eq!(read_all(&sink, key).await, data);
    let meta = sink.stat(key).await.unwrap().unwrap();
    assert_eq!(meta.size, size as u64);
    assert!(meta.last_modified.is_some());

    sink.put(
        "orders/20240101T020000Z-abcd/manifest.json",
        Bytes::from_static(b"{}"),
    )
    .await
    .unwrap();
    assert_eq!(
        listed(&sink, "orders/").await,
        vec![key, "orders/20240101T020000Z-abcd/manifest.json"]
    );
    let listed = sink
        .list("orders/20240101T020000Z-abcd/data")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, size as u64);
    assert!(sink.list("missing/").await.unwrap().is_empty());

    // Oversized for get, fine to stream.
    assert!(matches!(
        sink.get(key).await,
        Err(SinkError::TooLarge { size: s, .. }) if s == size as u64
    ));
    assert!(size as u64 > MAX_SMALL_OBJECT);

    sink.delete(key).await.unwrap();
    assert_eq!(sink.stat(key).await.unwrap(), None);
    assert_eq!(sink.list("").await.unwrap().len(), 1);
    assert_eq!(bucket.pending_uploads().await, 0);

    bucket.remove().await;
}

#[tokio::test]
async fn an_aborted_multipart_upload_leaves_no_object_and_no_upload() {
    let Some(bucket) = TestBucket::create().await else {
        return;
    };
    let sink = bucket.sink(None);
    let key = "orders/20240101T020000Z-abcd/data.dump";

    let mut writer = sink.open_write(key, Some(20 * MIB as u64)).await.unwrap();
    for chunk in random_bytes(17 * MIB, 12).chunks(MIB) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    // Two full parts were handed to the upload: a multipart upload is in progress.
    assert_eq!(bucket.pending_uploads().await, 1);
    writer.abort().await.unwrap();

    assert_eq!(sink.stat(key).await.unwrap(), None);
    assert!(sink.list("").await.unwrap().is_empty());
    assert_eq!(bucket.pending_uploads().await, 0);
    assert!(matches!(
        sink.open_read(key).await,
        Err(SinkError::NotFound { .. })
    ));

    bucket.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_upload_is_aborted() {
    let Some(bucket) = TestBucket::create().await else {
        return;
    };
    let sink = bucket.sink(None);
    let key = "cache/x/data.rdb";

    let mut writer = sink.open_write(key, None).await.unwrap();
    for chunk in random_bytes(40 * MIB, 13).chunks(4 * MIB) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(bucket.pending_uploads().await, 1);
    drop(writer);

    let mut pending = usize::MAX;
    for _ in 0..100 {
        pending = bucket.pending_uploads().await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending, 0);
    assert_eq!(sink.stat(key).await.unwrap(), None);

    bucket.remove().await;
}

#[tokio::test]
async fn small_objects_missing_keys_and_a_root_prefix() {
    let Some(bucket) = TestBucket::create().await else {
        return;
    };
    let sink = bucket.sink(Some("prod/db"));
    assert_eq!(sink.describe(), format!("s3://{}/prod/db", bucket.name));
    let key = "orders/a/manifest.json";

    assert_missing(&sink, key).await;
    sink.delete(key).await.unwrap();
    assert!(sink.list("").await.unwrap().is_empty());

    sink.put(key, Bytes::from_static(b"{\"id\":1}"))
        .await
        .unwrap();
    sink.put("orders/b/empty", Bytes::new()).await.unwrap();
    assert_eq!(
        sink.get(key).await.unwrap(),
        Bytes::from_static(b"{\"id\":1}")
    );
    assert_eq!(sink.get("orders/b/empty").await.unwrap(), Bytes::new());
    assert_eq!(read_all(&sink, "orders/b/empty").await, b"");
    assert_eq!(sink.stat(key).await.unwrap().unwrap().size, 8);

    // Keys are relative to the root prefix.
    assert_eq!(
        listed(&sink, "").await,
        vec!["orders/a/manifest.json", "orders/b/empty"]
    );
    assert_eq!(
        listed(&bucket.sink(None), "").await,
        vec!["prod/db/orders/a/manifest.json", "prod/db/orders/b/empty"]
    );

    sink.delete(key).await.unwrap();
    sink.delete(key).await.unwrap();
    assert_eq!(sink.stat(key).await.unwrap(), None);

    bucket.remove().await;
}

#[tokio::test]
async fn a_missing_bucket_is_an_error_not_an_empty_storage() {
    let Some(bucket) = TestBucket::create().await else {
        return;
    };
    let StorageConfig::S3(mut config) = bucket.config(None) else {
        unreachable!()
    };
    config.bucket = format!("{}-missing", bucket.name);
    let sink = OpendalSink::new("offsite", &StorageConfig::S3(config)).unwrap();

    match sink.list("").await {
        Err(SinkError::Backend { op: "list", .. }) => {}
        other => panic!("expected a list error, got {other:?}"),
    }
    let mut writer = sink
        .open_write("orders/a/manifest.json", None)
        .await
        .unwrap();
    writer.write(Bytes::from_static(b"{}")).await.unwrap();
    match writer.close().await {
        Err(SinkError::Backend {
            op: "close", key, ..
        }) => {
            assert_eq!(key, "orders/a/manifest.json");
        }
        other => panic!("expected a close error, got {other:?}"),
    }
    // The failed writer is finished: nothing more goes through it.
    assert!(writer.close().await.is_err());
    writer.abort().await.unwrap();

    // A write that fails (starting the multipart upload, when the second part is full) is
    // reported as such, and ends the upload.
    let mut writer = sink
        .open_write("orders/a/data", Some(MIB as u64))
        .await
        .unwrap();
    let mut failure = None;
    for chunk in random_bytes(17 * MIB, 14).chunks(MIB) {
        if let Err(err) = writer.write(Bytes::copy_from_slice(chunk)).await {
            failure = Some(err);
            break;
        }
    }
    match failure {
        Some(SinkError::Backend {
            op: "write",
            ref key,
            ..
        }) if key == "orders/a/data" => {}
        other => panic!("expected a write error, got {other:?}"),
    }
    let message = failure.unwrap().to_string();
    assert!(message.contains("orders/a/data"), "{message}");
    for leak in [
        "Credential=",
        "Signature=",
        "authorization",
        "x-amz-security-token",
    ] {
        assert!(!message.contains(leak), "credentials in {message}");
    }
    assert!(writer.write(Bytes::from_static(b"x")).await.is_err());
    assert!(sink.put("k", Bytes::from_static(b"x")).await.is_err());

    bucket.remove().await;
}

#[test]
fn secrets_stay_out_of_the_description_and_debug() {
    let config = StorageConfig::S3(S3Storage {
        bucket: "backups".to_owned(),
        root: Some("/prod/".to_owned()),
        endpoint: Some(SecretUrl::new(
            "http://minio:endpoint-secret@127.0.0.1:9000",
        )),
        region: None,
        access_key_id: Some(Secret::new("AKIASECRETID")),
        secret_access_key: Some(Secret::new("super-secret-key")),
        session_token: Some(Secret::new("session-secret")),
        virtual_host_style: true,
        ..S3Storage::default()
    });
    let sink = OpendalSink::new("offsite", &config).unwrap();
    assert_eq!(sink.describe(), "s3://backups/prod");
    let shown = format!("{} {sink:?} {config:?}", sink.describe());
    for secret in [
        "AKIASECRETID",
        "super-secret-key",
        "session-secret",
        "endpoint-secret",
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
}
