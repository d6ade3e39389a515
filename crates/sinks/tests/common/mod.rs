//! Helpers shared by the sink tests: fs sinks, test data, reading and listing objects, the
//! `put_if_absent` contract, and (feature `s3`) a bucket of its own on the local
//! S3-compatible server.
#![allow(dead_code, clippy::unwrap_used)]

#[cfg(feature = "s3")]
mod bucket;

use std::path::Path;

use backup_core::lock::PutIfAbsent;
use backup_core::{ObjectMeta, Sink, SinkError};
use bytes::Bytes;
use lifeboat_sinks::{FsStorage, OpendalSink, StorageConfig};
use rand::{RngCore, SeedableRng};
use tokio::io::AsyncReadExt;

#[cfg(feature = "s3")]
#[allow(unused_imports)] // not every test binary uses it
pub use bucket::TestBucket;

/// An fs sink named `local` over `root` (which need not exist).
pub fn fs_sink(root: &Path) -> OpendalSink {
    OpendalSink::new(
        "local",
        &StorageConfig::Fs(FsStorage {
            root: root.to_path_buf(),
            ..FsStorage::default()
        }),
    )
    .unwrap()
}

/// `len` random bytes, the same for the same `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

/// The whole object at `key`, streamed.
pub async fn read_all(sink: &dyn Sink, key: &str) -> Vec<u8> {
    let mut reader = sink.open_read(key).await.unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.unwrap();
    out
}

/// The keys of `objects`, sorted.
pub fn keys(objects: &[ObjectMeta]) -> Vec<&str> {
    let mut keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    keys.sort_unstable();
    keys
}

/// The keys `sink` lists under `prefix`, sorted.
pub async fn listed(sink: &dyn Sink, prefix: &str) -> Vec<String> {
    let objects = sink.list(prefix).await.unwrap();
    keys(&objects).into_iter().map(str::to_owned).collect()
}

/// Nothing is at `key`: `stat` says so, `get` and `open_read` fail with `NotFound`.
pub async fn assert_missing(sink: &dyn Sink, key: &str) {
    assert_eq!(sink.stat(key).await.unwrap(), None);
    assert!(matches!(sink.get(key).await, Err(SinkError::NotFound { key: k }) if k == key));
    assert!(matches!(
        sink.open_read(key).await,
        Err(SinkError::NotFound { .. })
    ));
}

/// `put_if_absent` creates `key` once: a second call finds it and leaves the first content.
pub async fn assert_created_once(sink: &dyn Sink, key: &str) {
    assert_eq!(
        sink.put_if_absent(key, Bytes::from_static(b"first"))
            .await
            .unwrap(),
        PutIfAbsent::Created
    );
    assert_eq!(
        sink.put_if_absent(key, Bytes::from_static(b"second"))
            .await
            .unwrap(),
        PutIfAbsent::Exists
    );
    assert_eq!(sink.get(key).await.unwrap(), Bytes::from_static(b"first"));
}
