//! The fs backend against a real directory.
#![cfg(feature = "fs")]
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use backup_core::{Sink, SinkError, MAX_SMALL_OBJECT};
use bytes::Bytes;
use common::{assert_missing, fs_sink, keys, random_bytes, read_all};
use lifeboat_sinks::{
    FsStorage, OpendalSink, RequestError, SinksError, StorageConfig, TMP_DIR_NAME,
};
use rand::{Rng, SeedableRng};

/// A fresh sink whose root does not exist yet.
fn fresh() -> (tempfile::TempDir, PathBuf, OpendalSink) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    let sink = fs_sink(&root);
    (dir, root, sink)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn tmp_entries(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root.join(TMP_DIR_NAME))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect()
}

/// Writes `data` in irregular chunks of up to `max_chunk` bytes, without closing.
async fn write_chunks(writer: &mut dyn backup_core::SinkWriter, data: &[u8], max_chunk: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut rest = data;
    while !rest.is_empty() {
        let n = rng.gen_range(1..=max_chunk).min(rest.len());
        writer
            .write(Bytes::copy_from_slice(&rest[..n]))
            .await
            .unwrap();
        rest = &rest[n..];
    }
}

fn assert_refused(result: Result<impl std::fmt::Debug, SinkError>, op: &str) {
    match result {
        Err(SinkError::Backend {
            op: actual, source, ..
        }) => {
            assert_eq!(actual, op);
            assert!(
                source.downcast_ref::<RequestError>().is_some(),
                "not refused: {source}"
            );
        }
        other => panic!("expected a refused {op}, got {other:?}"),
    }
}

#[tokio::test]
async fn round_trip_of_a_multi_mib_object_written_in_many_chunks() {
    let (_dir, root, sink) = fresh();
    let data = random_bytes(5 * 1024 * 1024 + 12_345, 1);
    let key = "orders/20240101T020000Z-abcd/data.dump.zst.age";

    let mut writer = sink.open_write(key, Some(data.len() as u64)).await.unwrap();
    write_chunks(writer.as_mut(), &data, 100_000).await;
    // Nothing under the key until close.
    assert_eq!(sink.stat(key).await.unwrap(), None);
    assert!(!root.join(key).exists());
    writer.close().await.unwrap();

    assert_eq!(read_all(&sink, key).await, data);
    let meta = sink.stat(key).await.unwrap().unwrap();
    assert_eq!(meta.key, key);
    assert_eq!(meta.size, data.len() as u64);
    assert!(meta.last_modified.is_some());
    assert_eq!(sink.list("").await.unwrap(), vec![meta]);
    assert!(tmp_entries(&root).is_empty());
}

#[tokio::test]
async fn files_are_0600_and_directories_0700() {
    let (_dir, root, sink) = fresh();
    let key = "orders/20240101T020000Z-abcd/data.dump";
    let mut writer = sink.open_write(key, None).await.unwrap();
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join(TMP_DIR_NAME)), 0o700);
    writer.write(Bytes::from_static(b"dump")).await.unwrap();
    writer.close().await.unwrap();
    sink.put(
        "orders/20240101T020000Z-abcd/manifest.json",
        Bytes::from_static(b"{}"),
    )
    .await
    .unwrap();
    sink.put("lock", Bytes::from_static(b"pid")).await.unwrap();

    assert_eq!(mode(&root.join("orders")), 0o700);
    assert_eq!(mode(&root.join("orders/20240101T020000Z-abcd")), 0o700);
    assert_eq!(mode(&root.join(key)), 0o600);
    assert_eq!(
        mode(&root.join("orders/20240101T020000Z-abcd/manifest.json")),
        0o600
    );
    assert_eq!(mode(&root.join("lock")), 0o600);

    // Overwriting keeps the file private.
    sink.put("lock", Bytes::from_static(b"pid2")).await.unwrap();
    assert_eq!(mode(&root.join("lock")), 0o600);
}

#[tokio::test]
async fn an_existing_root_is_used_as_is_and_the_temp_folder_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("existing");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::create_dir(root.join(TMP_DIR_NAME)).unwrap();
    std::fs::set_permissions(
        root.join(TMP_DIR_NAME),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();

    let sink = fs_sink(&root);
    // Opening and reading touch nothing...
    assert!(sink.list("").await.unwrap().is_empty());
    assert_eq!(mode(&root.join(TMP_DIR_NAME)), 0o755);
    // ...the first write makes the temp folder private, and leaves the root as it was.
    sink.put("a/b", Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(mode(&root), 0o750);
    assert_eq!(mode(&root.join(TMP_DIR_NAME)), 0o700);
    assert_eq!(sink.describe(), format!("fs:{}", root.display()));
    assert_eq!(sink.name(), "local");
}

#[tokio::test]
async fn reads_never_create_anything() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("not-mounted/backups");
    let sink = fs_sink(&root);
    let err = sink.list("app/").await.unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
    assert!(sink.stat("app/x").await.unwrap().is_none());
    assert!(matches!(
        sink.get("app/x").await,
        Err(backup_core::SinkError::NotFound { .. })
    ));
    assert!(sink.open_read("app/x").await.is_err());
    sink.delete("app/x").await.unwrap();
    assert!(
        !dir.path().join("not-mounted").exists(),
        "a read created the root"
    );

    // An existing root without a temp folder (e.g. copied backups) stays untouched by reads.
    let copied = dir.path().join("copied");
    std::fs::create_dir_all(copied.join("app")).unwrap();
    std::fs::write(copied.join("app/obj"), b"data").unwrap();
    let sink = fs_sink(&copied);
    assert_eq!(sink.list("").await.unwrap().len(), 1);
    assert_eq!(&sink.get("app/obj").await.unwrap()[..], b"data");
    assert!(
        !copied.join(TMP_DIR_NAME).exists(),
        "a read created the temp folder"
    );
}

#[tokio::test]
async fn abort_leaves_no_object_and_an_empty_temp_folder() {
    let (_dir, root, sink) = fresh();
    let key = "orders/20240101T020000Z-abcd/data.dump";
    let data = random_bytes(3 * 1024 * 1024, 2);

    let mut writer = sink.open_write(key, None).await.unwrap();
    write_chunks(writer.as_mut(), &data, 256 * 1024).await;
    assert_eq!(
        tmp_entries(&root).len(),
        1,
        "the upload is in the temp folder"
    );
    writer.abort().await.unwrap();

    assert_eq!(sink.stat(key).await.unwrap(), None);
    assert!(!root.join(key).exists());
    assert!(sink.list("").await.unwrap().is_empty());
    assert!(tmp_entries(&root).is_empty());

    // Abort is idempotent; the writer refuses further use.
    writer.abort().await.unwrap();
    assert_refused(writer.write(Bytes::from_static(b"x")).await, "write");
    assert_refused(writer.close().await, "close");
    assert!(sink.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_upload_aborted_midway_never_replaces_the_previous_object() {
    let (_dir, root, sink) = fresh();
    let key = "orders/20240101T020000Z-abcd/manifest.json";
    sink.put(key, Bytes::from_static(b"v1")).await.unwrap();

    let mut writer = sink.open_write(key, None).await.unwrap();
    write_chunks(
        writer.as_mut(),
        &random_bytes(2 * 1024 * 1024, 3),
        64 * 1024,
    )
    .await;
    assert_eq!(sink.get(key).await.unwrap(), Bytes::from_static(b"v1"));
    writer.abort().await.unwrap();

    assert_eq!(sink.get(key).await.unwrap(), Bytes::from_static(b"v1"));
    assert_eq!(keys(&sink.list("").await.unwrap()), vec![key]);
    assert!(tmp_entries(&root).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_unclosed_writer_leaves_nothing() {
    let (_dir, root, sink) = fresh();
    let key = "orders/20240101T020000Z-abcd/data.dump";

    let mut writer = sink.open_write(key, None).await.unwrap();
    write_chunks(writer.as_mut(), &random_bytes(1024 * 1024, 4), 64 * 1024).await;
    assert_eq!(tmp_entries(&root).len(), 1);
    drop(writer);

    // The abort runs in the background: wait for the temp file to go.
    for _ in 0..100 {
        if tmp_entries(&root).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(tmp_entries(&root).is_empty());
    assert_eq!(sink.stat(key).await.unwrap(), None);
    assert!(sink.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn list_is_recursive_relative_files_only_and_skips_the_temp_folder() {
    let (_dir, root, sink) = fresh();
    for key in [
        "orders/a/data.dump",
        "orders/a/manifest.json",
        "orders/b/manifest.json",
        "orders-old/a/manifest.json",
        "cache/x/data.rdb",
        "lock",
    ] {
        sink.put(key, Bytes::from(key.to_owned())).await.unwrap();
    }
    // An upload in progress and a stray file in the temp folder are invisible.
    let mut pending = sink.open_write("orders/c/data.dump", None).await.unwrap();
    pending.write(Bytes::from_static(b"partial")).await.unwrap();
    std::fs::write(root.join(TMP_DIR_NAME).join("stray"), b"x").unwrap();
    // An empty directory is not an object.
    std::fs::create_dir_all(root.join("orders/empty")).unwrap();

    let all = sink.list("").await.unwrap();
    assert_eq!(
        keys(&all),
        vec![
            "cache/x/data.rdb",
            "lock",
            "orders-old/a/manifest.json",
            "orders/a/data.dump",
            "orders/a/manifest.json",
            "orders/b/manifest.json",
        ]
    );
    for object in &all {
        assert_eq!(object.size, object.key.len() as u64);
        assert!(object.last_modified.is_some());
    }
    assert_eq!(
        keys(&sink.list("orders/").await.unwrap()),
        vec![
            "orders/a/data.dump",
            "orders/a/manifest.json",
            "orders/b/manifest.json"
        ]
    );
    assert_eq!(
        keys(&sink.list("orders/a/").await.unwrap()),
        vec!["orders/a/data.dump", "orders/a/manifest.json"]
    );
    // A prefix without `/` is a plain string prefix, as on object stores.
    assert_eq!(keys(&sink.list("orders").await.unwrap()).len(), 4);
    assert_eq!(
        keys(&sink.list("orders/a/man").await.unwrap()),
        vec!["orders/a/manifest.json"]
    );
    assert!(sink.list("missing/").await.unwrap().is_empty());
    assert!(sink.list("missing").await.unwrap().is_empty());
    assert!(sink.list("orders/zzz/").await.unwrap().is_empty());
    assert!(sink.list(".lifeboat").await.unwrap().is_empty());
    assert_refused(sink.list(".lifeboat-tmp/").await, "list");
    assert_refused(sink.list("../").await, "list");

    pending.abort().await.unwrap();
}

#[tokio::test]
async fn stat_delete_get_and_read_semantics() {
    let (_dir, root, sink) = fresh();
    let key = "orders/a/manifest.json";

    assert_missing(&sink, key).await;
    sink.delete(key).await.unwrap();

    sink.put(key, Bytes::from_static(b"{\"id\":1}"))
        .await
        .unwrap();
    sink.put("orders/b/manifest.json", Bytes::new())
        .await
        .unwrap();
    assert_eq!(
        sink.get(key).await.unwrap(),
        Bytes::from_static(b"{\"id\":1}")
    );
    assert_eq!(
        sink.get("orders/b/manifest.json").await.unwrap(),
        Bytes::new()
    );
    assert_eq!(read_all(&sink, "orders/b/manifest.json").await, b"");
    assert_eq!(sink.stat(key).await.unwrap().unwrap().size, 8);

    // Directories are not objects.
    assert_eq!(sink.stat("orders/a").await.unwrap(), None);
    assert!(matches!(
        sink.get("orders/a").await,
        Err(SinkError::NotFound { .. })
    ));
    assert!(matches!(
        sink.open_read("orders").await,
        Err(SinkError::NotFound { .. })
    ));
    sink.delete("orders").await.unwrap();
    assert!(root.join("orders/a").is_dir());

    // Deleting the last object of a directory removes the empty directories, not the root.
    sink.delete(key).await.unwrap();
    assert_eq!(sink.stat(key).await.unwrap(), None);
    assert!(!root.join("orders/a").exists());
    assert!(root.join("orders/b").is_dir());
    sink.delete("orders/b/manifest.json").await.unwrap();
    assert!(!root.join("orders").exists());
    assert!(root.is_dir());
    assert!(root.join(TMP_DIR_NAME).is_dir());
    sink.delete(key).await.unwrap();

    // Keys that could escape the root, or reach the temp folder, are refused.
    for bad in [
        "../escape",
        "/etc/passwd",
        "a/../../b",
        "a/",
        "",
        ".lifeboat-tmp/x",
    ] {
        assert_refused(sink.stat(bad).await, "stat");
        assert_refused(sink.get(bad).await, "read");
        assert_refused(sink.open_read(bad).await.map(|_| ()), "read");
        assert_refused(sink.delete(bad).await, "delete");
        assert_refused(sink.open_write(bad, None).await.map(|_| ()), "write");
    }
    assert!(!root.parent().unwrap().join("escape").exists());
}

#[tokio::test]
async fn get_refuses_an_oversized_object_but_streams_it() {
    let (_dir, _root, sink) = fresh();
    let size = MAX_SMALL_OBJECT as usize + 1;
    let data = random_bytes(size, 5);
    let mut writer = sink.open_write("big", Some(size as u64)).await.unwrap();
    for chunk in data.chunks(1024 * 1024) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    writer.close().await.unwrap();

    match sink.get("big").await {
        Err(SinkError::TooLarge { key, size: actual }) => {
            assert_eq!(key, "big");
            assert_eq!(actual, size as u64);
        }
        other => panic!("expected TooLarge, got {:?}", other.map(|b| b.len())),
    }
    assert_eq!(read_all(&sink, "big").await, data);

    // Exactly the limit is fine.
    sink.put(
        "max",
        Bytes::from(data[..MAX_SMALL_OBJECT as usize].to_vec()),
    )
    .await
    .unwrap();
    assert_eq!(
        sink.get("max").await.unwrap().len() as u64,
        MAX_SMALL_OBJECT
    );
}

#[tokio::test]
async fn config_errors_name_the_storage() {
    let err = OpendalSink::new(
        "local",
        &StorageConfig::Fs(FsStorage {
            root: PathBuf::new(),
            ..FsStorage::default()
        }),
    )
    .unwrap_err();
    assert!(matches!(err, SinksError::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("storage `local`"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    // A root that cannot be created is found at the first write, naming the path.
    let sink = OpendalSink::new(
        "local",
        &StorageConfig::Fs(FsStorage {
            root: file.join("below"),
            ..FsStorage::default()
        }),
    )
    .unwrap();
    let err = sink.put("k", Bytes::from_static(b"x")).await.unwrap_err();
    assert!(err.to_string().contains("a-file"), "{err}");
}
