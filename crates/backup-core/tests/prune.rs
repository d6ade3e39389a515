//! Prune: the plan keeps what the policy keeps (and the newest), removes manifest then data,
//! removes only old leftovers, and refuses to act on a partial view.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use backup_core::catalog::list_manifests;
use backup_core::prune::{execute_prune, plan_prune, DEFAULT_LEFTOVER_GRACE};
use backup_core::retention::KeepOptions;
use backup_core::Sink;
use common::{backup, BytesSource};
use lifeboat_testing::MemorySink;
use time::{Duration, OffsetDateTime};

async fn backups(sink: &MemorySink, n: usize) -> Vec<backup_core::pipeline::BackupOutcome> {
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(sink.clone())];
    let mut done = Vec::new();
    for i in 0..n {
        done.push(
            backup(&BytesSource::new(vec![i as u8; 1000]), &[], &sinks)
                .await
                .unwrap(),
        );
    }
    done
}

fn keep_last(n: u32) -> KeepOptions {
    KeepOptions {
        keep_last: Some(n),
        ..KeepOptions::default()
    }
}

#[tokio::test]
async fn keeps_what_the_policy_keeps_and_removes_the_rest_everywhere() {
    let local = MemorySink::new("local");
    let made = backups(&local, 6).await;
    // The same backups also in a second storage.
    let offsite = MemorySink::new("offsite");
    for key in local.keys() {
        offsite.set_object(&key, local.object(&key).unwrap());
    }
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(local.clone()), Arc::new(offsite.clone())];
    let now = OffsetDateTime::now_utc();

    let plan = plan_prune(&sinks, "app", &keep_last(2), now, DEFAULT_LEFTOVER_GRACE)
        .await
        .unwrap();
    // One decision per backup and storage.
    assert_eq!(plan.backups.len(), 12);
    assert_eq!(plan.removed(), 8);
    for (decision, _) in &plan.backups {
        assert_eq!(decision.keep, !decision.reasons.is_empty());
    }
    // A plan alone removes nothing.
    assert_eq!(
        list_manifests(&local, None).await.unwrap().manifests.len(),
        6
    );

    let report = execute_prune(&plan, &sinks).await.unwrap();
    assert_eq!(report.backups_removed, 8);
    for sink in [&local, &offsite] {
        let left = list_manifests(sink, Some("app")).await.unwrap().manifests;
        let mut ids: Vec<_> = left.iter().map(|m| m.id.clone()).collect();
        ids.sort();
        let mut newest: Vec<_> = made[4..].iter().map(|o| o.manifest.id.clone()).collect();
        newest.sort();
        assert_eq!(ids, newest);
        // Data objects went with their manifests: two backups, two objects each.
        assert_eq!(sink.keys().len(), 4, "{:?}", sink.keys());
    }
}

#[tokio::test]
async fn an_empty_policy_keeps_everything() {
    let sink = MemorySink::new("local");
    backups(&sink, 3).await;
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(sink.clone())];
    let plan = plan_prune(
        &sinks,
        "app",
        &KeepOptions::default(),
        OffsetDateTime::now_utc(),
        DEFAULT_LEFTOVER_GRACE,
    )
    .await
    .unwrap();
    assert_eq!(plan.removed(), 0);
    execute_prune(&plan, &sinks).await.unwrap();
    assert_eq!(sink.keys().len(), 6);
}

#[tokio::test]
async fn only_old_leftovers_are_removed() {
    let sink = MemorySink::new("local");
    backups(&sink, 1).await;
    let now = OffsetDateTime::now_utc();
    let old = "app/20200101T000000Z-aaaaaa/data.bin";
    let fresh = "app/20991231T000000Z-bbbbbb/data.bin";
    sink.set_object_at(old, vec![1u8; 10], now - Duration::hours(30));
    // A backup in progress: its data is there, its manifest not yet.
    sink.set_object_at(fresh, vec![2u8; 10], now - Duration::minutes(5));
    sink.set_object_at("not-ours/file", vec![3u8; 10], now - Duration::days(400));
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(sink.clone())];

    let plan = plan_prune(&sinks, "app", &keep_last(5), now, DEFAULT_LEFTOVER_GRACE)
        .await
        .unwrap();
    assert_eq!(plan.leftovers.len(), 2);
    let by_key = |k: &str| plan.leftovers.iter().find(|l| l.key == k).unwrap();
    assert!(by_key(old).remove);
    assert!(!by_key(fresh).remove);

    let report = execute_prune(&plan, &sinks).await.unwrap();
    assert_eq!(report.leftovers_removed, 1);
    assert!(sink.object(old).is_none());
    assert!(
        sink.object(fresh).is_some(),
        "a backup in progress was touched"
    );
    assert!(sink.object("not-ours/file").is_some());
}

#[tokio::test]
async fn an_unreadable_manifest_aborts_the_plan() {
    let sink = MemorySink::new("local");
    backups(&sink, 3).await;
    sink.set_object(
        "app/20200101T000000Z-cccccc/manifest.json",
        b"{ not json".to_vec(),
    );
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(sink.clone())];
    let before = sink.keys();
    let err = plan_prune(
        &sinks,
        "app",
        &keep_last(1),
        OffsetDateTime::now_utc(),
        DEFAULT_LEFTOVER_GRACE,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("20200101T000000Z-cccccc"), "{err}");
    assert_eq!(sink.keys(), before);
}

#[tokio::test]
async fn a_storage_that_missed_recent_backups_keeps_its_own_newest() {
    let both_a = MemorySink::new("a");
    let both_b = MemorySink::new("b");
    let both: Vec<Arc<dyn Sink>> = vec![Arc::new(both_a.clone()), Arc::new(both_b.clone())];
    for i in 0..2u8 {
        backup(&BytesSource::new(vec![i; 100]), &[], &both)
            .await
            .unwrap();
    }
    // b is down for the next two backups.
    let only_a: Vec<Arc<dyn Sink>> = vec![Arc::new(both_a.clone())];
    for i in 2..4u8 {
        backup(&BytesSource::new(vec![i; 100]), &[], &only_a)
            .await
            .unwrap();
    }
    let plan = plan_prune(
        &both,
        "app",
        &keep_last(2),
        OffsetDateTime::now_utc(),
        DEFAULT_LEFTOVER_GRACE,
    )
    .await
    .unwrap();
    execute_prune(&plan, &both).await.unwrap();
    assert_eq!(
        list_manifests(&both_a, Some("app"))
            .await
            .unwrap()
            .manifests
            .len(),
        2
    );
    assert_eq!(
        list_manifests(&both_b, Some("app"))
            .await
            .unwrap()
            .manifests
            .len(),
        2,
        "b lost its backups because newer ones exist in a"
    );
}

/// A storage whose listings give no modification times (as some backends' listings do); a
/// `stat` of one object does.
struct UndatedListing(MemorySink);

#[async_trait::async_trait]
impl Sink for UndatedListing {
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
    ) -> Result<Box<dyn backup_core::SinkWriter>, backup_core::SinkError> {
        self.0.open_write(key, size_hint).await
    }
    async fn open_read(&self, key: &str) -> Result<backup_core::BoxReader, backup_core::SinkError> {
        self.0.open_read(key).await
    }
    async fn list(
        &self,
        prefix: &str,
    ) -> Result<Vec<backup_core::ObjectMeta>, backup_core::SinkError> {
        let mut listed = self.0.list(prefix).await?;
        for object in &mut listed {
            object.last_modified = None;
        }
        Ok(listed)
    }
    async fn stat(
        &self,
        key: &str,
    ) -> Result<Option<backup_core::ObjectMeta>, backup_core::SinkError> {
        self.0.stat(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), backup_core::SinkError> {
        self.0.delete(key).await
    }
    async fn get(&self, key: &str) -> Result<bytes::Bytes, backup_core::SinkError> {
        self.0.get(key).await
    }
}

#[tokio::test]
async fn a_leftover_listed_without_a_time_is_dated_by_a_stat() {
    let memory = MemorySink::new("offsite");
    backups(&memory, 1).await;
    let now = OffsetDateTime::now_utc();
    let old = "app/20200101T000000Z-aaaaaa/data.db";
    let young = "app/20991231T000000Z-bbbbbb/data.db";
    memory.set_object_at(old, vec![1u8; 10], now - Duration::hours(30));
    memory.set_object_at(young, vec![2u8; 10], now - Duration::minutes(5));
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(UndatedListing(memory.clone()))];

    let plan = plan_prune(&sinks, "app", &keep_last(5), now, DEFAULT_LEFTOVER_GRACE)
        .await
        .unwrap();
    let by_key = |k: &str| plan.leftovers.iter().find(|l| l.key == k).unwrap();
    assert!(by_key(old).last_modified.is_some());
    assert!(
        by_key(old).remove,
        "an old leftover must not look new for ever"
    );
    assert!(!by_key(young).remove);
    let report = execute_prune(&plan, &sinks).await.unwrap();
    assert_eq!(
        (report.leftovers_removed, report.leftover_bytes_freed),
        (1, 10)
    );
    assert!(memory.object(old).is_none());
    assert!(memory.object(young).is_some());
    // Leftovers never count as backups: one backup was planned, and it is kept.
    assert_eq!(plan.backups.len(), 1);
    assert!(plan.backups[0].0.keep);
}
