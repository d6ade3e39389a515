//! The backup pipeline over the real fs storage: a source failing midway leaves no manifest and
//! no data object, nothing in the temp folder, and earlier backups untouched.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use backup_core::catalog::list_manifests;
use backup_core::pipeline::{run_backup, BackupRequest};
use backup_core::transform::{Compression, Transform};
use backup_core::Sink;
use lifeboat_testing::BytesSource;

/// `len` bytes of a fixed, poorly compressible pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found.sort();
    found
}

async fn backup(
    sink: &Arc<dyn Sink>,
    source: &BytesSource,
) -> Result<backup_core::pipeline::BackupOutcome, backup_core::Error> {
    let transforms: Vec<Box<dyn Transform>> = Compression::default()
        .transform()
        .unwrap()
        .into_iter()
        .collect();
    run_backup(BackupRequest {
        source_name: "app",
        source,
        transforms: &transforms,
        sinks: std::slice::from_ref(sink),
        size_hint: None,
        progress: None,
    })
    .await
}

#[tokio::test]
async fn a_source_failing_midway_leaves_nothing_in_the_fs_storage() {
    let root = tempfile::tempdir().unwrap();
    let sink: Arc<dyn Sink> = Arc::new(common::fs_sink(&root.path().join("backups")));

    let good = backup(&sink, &BytesSource::new(pattern(8 << 20)))
        .await
        .unwrap();
    let before = files_under(root.path());
    assert_eq!(before.len(), 2, "{before:?}");

    let err = backup(
        &sink,
        &BytesSource::failing_after(pattern(64 << 20), 24 << 20),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("simulated source failure"),
        "{err}"
    );
    assert_eq!(
        files_under(root.path()),
        before,
        "the failed run left files behind"
    );

    let listed = list_manifests(sink.as_ref(), Some("app"))
        .await
        .unwrap()
        .manifests;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, good.manifest.id);

    // The surviving backup's files are private.
    for file in &before {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
}
