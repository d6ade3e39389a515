//! Weak points at the edge of the fs storage: an upload's temp file is private (0600) while
//! it is written, not only once renamed into place.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use backup_core::Sink;
use bytes::Bytes;
use lifeboat_sinks::TMP_DIR_NAME;

#[tokio::test]
async fn an_upload_in_progress_is_a_0600_file() {
    let root = tempfile::tempdir().unwrap();
    let sink = common::fs_sink(&root.path().join("backups"));
    let mut writer = sink.open_write("app/x/data.dump", None).await.unwrap();
    writer.write(Bytes::from(vec![7; 64 * 1024])).await.unwrap();

    let tmp = root.path().join("backups").join(TMP_DIR_NAME);
    let staged: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(staged.len(), 1, "{staged:?}");
    let mode = std::fs::metadata(&staged[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is {mode:o}", staged[0].display());

    writer.close().await.unwrap();
    let object = root.path().join("backups/app/x/data.dump");
    let mode = std::fs::metadata(&object).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[tokio::test]
async fn an_aborted_or_dropped_upload_leaves_no_temp_file() {
    let root = tempfile::tempdir().unwrap();
    let sink = common::fs_sink(root.path());
    let tmp = root.path().join(TMP_DIR_NAME);

    let mut writer = sink.open_write("app/x/a", None).await.unwrap();
    writer.write(Bytes::from_static(b"abc")).await.unwrap();
    writer.abort().await.unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    common::assert_missing(&sink, "app/x/a").await;

    let mut writer = sink.open_write("app/x/b", None).await.unwrap();
    writer.write(Bytes::from_static(b"abc")).await.unwrap();
    drop(writer);
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    common::assert_missing(&sink, "app/x/b").await;
}
