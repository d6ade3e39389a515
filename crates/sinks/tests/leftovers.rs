//! Leftovers of killed runs on real storages, through the prune plan: on fs the temp uploads of
//! `.lifeboat-tmp/`, empty backup folders and data without a manifest; on S3 (moto) data
//! without a manifest and unfinished multipart uploads. Each is kept before the grace period,
//! removed after it, and counted in the bytes freed; a backup in progress is never touched.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use backup_core::leftovers::{LeftoverKind, LeftoverScope, DEFAULT_LEFTOVER_GRACE};
use backup_core::pipeline::{run_backup, BackupRequest};
use backup_core::prune::{
    execute_prune, plan_internal_leftovers, plan_prune, remove_leftovers, PruneReport,
};
use backup_core::retention::KeepOptions;
use backup_core::transform::Transform;
use backup_core::Sink;
use bytes::Bytes;
use common::fs_sink;
use lifeboat_testing::BytesSource;
use time::{Duration, OffsetDateTime};

const MIB: usize = 1024 * 1024;

async fn one_backup(sink: &Arc<dyn Sink>) {
    let transforms: Vec<Box<dyn Transform>> = Vec::new();
    run_backup(BackupRequest {
        source_name: "app",
        source: &BytesSource::new(vec![7u8; 1000]),
        transforms: &transforms,
        sinks: std::slice::from_ref(sink),
        size_hint: None,
        progress: None,
    })
    .await
    .unwrap();
}

fn kinds(plan: &[backup_core::prune::Leftover]) -> Vec<(LeftoverKind, bool)> {
    let mut kinds: Vec<_> = plan.iter().map(|l| (l.kind, l.remove)).collect();
    kinds.sort();
    kinds
}

#[tokio::test]
async fn fs_leftovers_are_kept_before_the_grace_and_removed_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    let sink: Arc<dyn Sink> = Arc::new(fs_sink(&root));
    let sinks = vec![sink.clone()];
    one_backup(&sink).await;
    // What a killed run leaves: a temp upload, the empty folder made for it, and (a run
    // killed between data and manifest) a whole data object without a manifest.
    std::fs::write(
        root.join(".lifeboat-tmp/data.db.zst.0123abcd"),
        vec![1u8; 3000],
    )
    .unwrap();
    std::fs::create_dir_all(root.join("app/20200101T000000Z-aaaaaa")).unwrap();
    sink.put(
        "app/20200102T000000Z-bbbbbb/data.db",
        Bytes::from(vec![2u8; 500]),
    )
    .await
    .unwrap();
    let policy = KeepOptions::default();
    let now = OffsetDateTime::now_utc();

    // Before the grace: everything is reported, nothing is marked for removal.
    let plan = plan_prune(&sinks, "app", &policy, now, DEFAULT_LEFTOVER_GRACE)
        .await
        .unwrap();
    assert_eq!(
        kinds(&plan.leftovers),
        vec![
            (LeftoverKind::NoManifest, false),
            (LeftoverKind::EmptyFolder, false)
        ]
    );
    let internal = plan_internal_leftovers(&sinks, now, DEFAULT_LEFTOVER_GRACE)
        .await
        .unwrap();
    assert_eq!(kinds(&internal), vec![(LeftoverKind::TempUpload, false)]);
    assert_eq!(internal[0].size, 3000);
    let report = execute_prune(&plan, &sinks).await.unwrap();
    assert_eq!(report, PruneReport::default());
    assert!(root.join("app/20200101T000000Z-aaaaaa").is_dir());

    // After it: all of them go, and the bytes are counted.
    let later = now + Duration::days(2);
    let plan = plan_prune(&sinks, "app", &policy, later, DEFAULT_LEFTOVER_GRACE)
        .await
        .unwrap();
    assert!(plan.leftovers.iter().all(|l| l.remove), "{plan:?}");
    let mut report = execute_prune(&plan, &sinks).await.unwrap();
    let internal = plan_internal_leftovers(&sinks, later, DEFAULT_LEFTOVER_GRACE)
        .await
        .unwrap();
    remove_leftovers(&internal, &sinks, &mut report)
        .await
        .unwrap();
    assert_eq!(report.leftovers_removed, 3);
    assert_eq!(report.leftover_bytes_freed, 3500);
    assert_eq!(report.backups_removed, 0);

    assert!(!root.join("app/20200101T000000Z-aaaaaa").exists());
    assert!(!root.join("app/20200102T000000Z-bbbbbb").exists());
    assert_eq!(
        std::fs::read_dir(root.join(".lifeboat-tmp"))
            .unwrap()
            .count(),
        0
    );
    // The backup is untouched, and nothing is left to report.
    assert_eq!(sink.list("app/").await.unwrap().len(), 2);
    let plan = plan_prune(&sinks, "app", &policy, later, DEFAULT_LEFTOVER_GRACE)
        .await
        .unwrap();
    assert!(plan.leftovers.is_empty(), "{plan:?}");
}

#[tokio::test]
async fn an_upload_in_progress_on_fs_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    let sink: Arc<dyn Sink> = Arc::new(fs_sink(&root));
    let sinks = vec![sink.clone()];
    let key = "app/20200101T000000Z-cccccc/data.db";
    let mut writer = sink.open_write(key, None).await.unwrap();
    writer.write(Bytes::from(vec![3u8; 1000])).await.unwrap();

    // Its temp file and folder are young: reported, kept, and the upload completes.
    let now = OffsetDateTime::now_utc();
    let plan = plan_prune(
        &sinks,
        "app",
        &KeepOptions::default(),
        now,
        DEFAULT_LEFTOVER_GRACE,
    )
    .await
    .unwrap();
    let mut report = execute_prune(&plan, &sinks).await.unwrap();
    let internal = plan_internal_leftovers(&sinks, now, DEFAULT_LEFTOVER_GRACE)
        .await
        .unwrap();
    assert_eq!(kinds(&internal), vec![(LeftoverKind::TempUpload, false)]);
    remove_leftovers(&internal, &sinks, &mut report)
        .await
        .unwrap();
    assert_eq!(report.leftovers_removed, 0);
    writer.write(Bytes::from(vec![3u8; 1000])).await.unwrap();
    writer.close().await.unwrap();
    assert_eq!(sink.stat(key).await.unwrap().unwrap().size, 2000);
}

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use common::TestBucket;

    #[tokio::test]
    async fn unfinished_uploads_and_data_without_manifest_are_collected_after_the_grace() {
        let Some(bucket) = TestBucket::create().await else {
            return;
        };
        let sink: Arc<dyn Sink> = Arc::new(bucket.sink(Some("prod")));
        let sinks = vec![sink.clone()];
        one_backup(&sink).await;
        // A run killed mid-upload: parts uploaded, the upload never completed nor aborted.
        let key = "app/20200101T000000Z-dddddd/data.db";
        let mut writer = sink.open_write(key, Some(20 * MIB as u64)).await.unwrap();
        for _ in 0..17 {
            writer.write(Bytes::from(vec![4u8; MIB])).await.unwrap();
        }
        std::mem::forget(writer);
        assert_eq!(bucket.pending_uploads().await, 1);
        // An upload is dated by its newest part. Wait for the first one: until then moto
        // dates the upload by its `Initiated`, which moto fixes at 2010.
        let started = std::time::Instant::now();
        while !sink
            .list_leftovers(LeftoverScope::Source("app"))
            .await
            .unwrap()
            .iter()
            .any(|l| l.kind == LeftoverKind::UnfinishedUpload && l.size > 0)
        {
            assert!(started.elapsed() < std::time::Duration::from_secs(30));
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // A run killed between data and manifest.
        sink.put(
            "app/20200102T000000Z-eeeeee/data.db",
            Bytes::from(vec![5u8; 700]),
        )
        .await
        .unwrap();
        // Another source's upload is not this source's leftover.
        let other = sink
            .list_leftovers(LeftoverScope::Source("other"))
            .await
            .unwrap();
        assert!(other.is_empty(), "{other:?}");

        let policy = KeepOptions::default();
        let now = OffsetDateTime::now_utc();
        let plan = plan_prune(&sinks, "app", &policy, now, DEFAULT_LEFTOVER_GRACE)
            .await
            .unwrap();
        assert_eq!(
            kinds(&plan.leftovers),
            vec![
                (LeftoverKind::NoManifest, false),
                (LeftoverKind::UnfinishedUpload, false)
            ]
        );
        // Dated by the storage: never an unknown (or zero) age.
        assert!(
            plan.leftovers.iter().all(|l| l.last_modified.is_some()),
            "{plan:?}"
        );
        let upload = plan
            .leftovers
            .iter()
            .find(|l| l.kind == LeftoverKind::UnfinishedUpload)
            .unwrap();
        assert_eq!(upload.key, key);
        // Its uploaded parts (the second may still be on its way).
        assert!(upload.size >= 8 * MIB as u64, "{upload:?}");
        assert_eq!(
            execute_prune(&plan, &sinks).await.unwrap(),
            PruneReport::default()
        );
        assert_eq!(bucket.pending_uploads().await, 1);

        let later = now + Duration::days(2);
        let plan = plan_prune(&sinks, "app", &policy, later, DEFAULT_LEFTOVER_GRACE)
            .await
            .unwrap();
        let parts: u64 = plan
            .leftovers
            .iter()
            .filter(|l| l.kind == LeftoverKind::UnfinishedUpload)
            .map(|l| l.size)
            .sum();
        assert!(parts >= 8 * MIB as u64);
        let report = execute_prune(&plan, &sinks).await.unwrap();
        assert_eq!(report.leftovers_removed, 2);
        assert_eq!(report.leftover_bytes_freed, 700 + parts);
        assert_eq!(bucket.pending_uploads().await, 0);
        assert_eq!(
            sink.stat("app/20200102T000000Z-eeeeee/data.db")
                .await
                .unwrap(),
            None
        );
        // The backup stays; nothing more to collect.
        assert_eq!(sink.list("app/").await.unwrap().len(), 2);
        let plan = plan_prune(&sinks, "app", &policy, later, DEFAULT_LEFTOVER_GRACE)
            .await
            .unwrap();
        assert!(plan.leftovers.is_empty(), "{plan:?}");

        bucket.remove().await;
    }
}
