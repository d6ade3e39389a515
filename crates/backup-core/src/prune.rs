//! Prune: apply a retention policy to one source's backups and remove leftovers.
//!
//! Planning reads every storage the source names; any listing or manifest that cannot be read
//! aborts the plan (a partial view could remove the wrong backups). Executing removes each
//! pruned backup's manifest first — from then on it is no longer a backup — then its data.
//! Leftovers (`crate::leftovers`: data without a manifest, temp uploads, empty folders,
//! unfinished multipart uploads) are removed only once they are older than a grace period,
//! judged by their modification time, so a backup in progress is never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::catalog::{parse_manifest_key, read_manifest};
pub use crate::leftovers::DEFAULT_LEFTOVER_GRACE;
use crate::leftovers::{past_grace, LeftoverKind, LeftoverScope, StorageLeftover};
use crate::retention::{Candidate, Decision, KeepOptions};
use crate::{BackupId, Error, Manifest, ObjectMeta, Sink};

/// One leftover in one storage, and whether prune removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The storage holding it.
    pub storage: String,
    /// What it is.
    pub kind: LeftoverKind,
    /// Its key (a folder's ends with `/`).
    pub key: String,
    /// Its size in bytes, as far as known.
    pub size: u64,
    /// When it was last written, when the storage says (a multipart upload: its start).
    pub last_modified: Option<OffsetDateTime>,
    /// The upload id of an unfinished multipart upload.
    pub upload_id: Option<String>,
    /// Whether it is past the grace period, so removed (unknown age: never).
    pub remove: bool,
}

impl Leftover {
    fn judged(storage: &str, item: StorageLeftover, now: OffsetDateTime, grace: Duration) -> Self {
        Self {
            storage: storage.to_string(),
            kind: item.kind,
            remove: past_grace(item.last_modified, now, grace),
            key: item.key,
            size: item.size,
            last_modified: item.last_modified,
            upload_id: item.upload_id,
        }
    }

    fn as_storage_leftover(&self) -> StorageLeftover {
        StorageLeftover {
            kind: self.kind,
            key: self.key.clone(),
            size: self.size,
            last_modified: self.last_modified,
            upload_id: self.upload_id.clone(),
        }
    }
}

/// What prune will do for one source.
///
/// The policy is applied to each storage's own backups: a storage that missed recent backups
/// (an outage, a storage just added) keeps its own newest ones, and no storage ever loses its
/// newest backup because a newer one exists elsewhere.
#[derive(Debug, Clone)]
pub struct PrunePlan {
    /// The source.
    pub source: String,
    /// One decision per backup per storage: storages in the order given, each newest first.
    pub backups: Vec<(Decision, String)>,
    /// Objects that belong to no backup.
    pub leftovers: Vec<Leftover>,
}

impl PrunePlan {
    /// How many copies (backup, storage) the plan removes.
    pub fn removed(&self) -> usize {
        self.backups.iter().filter(|(d, _)| !d.keep).count()
    }
}

/// What one storage holds of a source.
struct StorageView {
    storage: String,
    objects: Vec<ObjectMeta>,
    manifests: BTreeMap<BackupId, Manifest>,
    leftovers: Vec<StorageLeftover>,
}

fn storage_error(sink: &dyn Sink) -> impl Fn(crate::SinkError) -> Error + '_ {
    move |error| Error::Storage {
        storage: sink.name().to_string(),
        error,
    }
}

async fn view(sink: &dyn Sink, source: &str) -> Result<StorageView, Error> {
    let objects = sink
        .list(&crate::source_prefix(source))
        .await
        .map_err(storage_error(sink))?;
    let mut manifests = BTreeMap::new();
    for object in &objects {
        if let Some((name, id)) = parse_manifest_key(&object.key) {
            if name == source {
                let manifest =
                    read_manifest(sink, object.key.clone(), name.to_string(), id.clone()).await?;
                manifests.insert(id, manifest);
            }
        }
    }
    let leftovers = leftovers_or_none(sink, LeftoverScope::Source(source)).await;
    Ok(StorageView {
        storage: sink.name().to_string(),
        objects,
        manifests,
        leftovers,
    })
}

/// What `sink` holds besides objects in `scope`. A storage that cannot tell (a server without
/// multipart listing, an unreadable temp folder) only warns: leftovers must not stop the
/// retention, whose view of the backups is complete without them.
async fn leftovers_or_none(sink: &dyn Sink, scope: LeftoverScope<'_>) -> Vec<StorageLeftover> {
    match sink.list_leftovers(scope).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(
                storage = sink.name(),
                "could not look for leftovers: {error}"
            );
            Vec::new()
        }
    }
}

/// The backup id an object belongs to by its place in the layout, `<source>/<id>/...`.
fn id_of(source: &str, key: &str) -> Option<BackupId> {
    let rest = key.strip_prefix(&crate::source_prefix(source))?;
    let (id, _) = rest.split_once('/')?;
    id.parse().ok()
}

/// Plans a prune of `source` across `sinks`. Fails (and plans nothing) if any storage or
/// manifest cannot be read.
pub async fn plan_prune(
    sinks: &[Arc<dyn Sink>],
    source: &str,
    policy: &KeepOptions,
    now: OffsetDateTime,
    leftover_grace: Duration,
) -> Result<PrunePlan, Error> {
    let mut views = Vec::new();
    for sink in sinks {
        views.push(view(sink.as_ref(), source).await?);
    }
    let mut backups = Vec::new();
    for view in &views {
        let candidates: Vec<Candidate> = view.manifests.values().map(Candidate::from).collect();
        for decision in policy.apply(&candidates, now) {
            backups.push((decision, view.storage.clone()));
        }
    }
    let mut leftovers = Vec::new();
    for (view, sink) in views.iter().zip(sinks) {
        for object in &view.objects {
            let Some(id) = id_of(source, &object.key) else {
                continue; // not in lifeboat's layout: not ours to judge
            };
            if view.manifests.contains_key(&id) {
                continue;
            }
            // A listing without times (some backends' listings) must not make a leftover
            // look new for ever: ask the object itself.
            let last_modified = match object.last_modified {
                Some(modified) => Some(modified),
                None => sink
                    .stat(&object.key)
                    .await
                    .map_err(storage_error(sink.as_ref()))?
                    .and_then(|meta| meta.last_modified),
            };
            leftovers.push(Leftover::judged(
                &view.storage,
                StorageLeftover {
                    kind: LeftoverKind::NoManifest,
                    key: object.key.clone(),
                    size: object.size,
                    last_modified,
                    upload_id: None,
                },
                now,
                leftover_grace,
            ));
        }
        for item in &view.leftovers {
            // An empty folder counts only where a backup's folder would be.
            if item.kind == LeftoverKind::EmptyFolder && id_of(source, &item.key).is_none() {
                continue;
            }
            leftovers.push(Leftover::judged(
                &view.storage,
                item.clone(),
                now,
                leftover_grace,
            ));
        }
    }
    Ok(PrunePlan {
        source: source.to_string(),
        backups,
        leftovers,
    })
}

/// The leftovers in the storages' own temp areas (`.lifeboat-tmp/` on fs), shared by every
/// source, judged at `now`. They belong to no source, so only their age tells whether a run
/// still writes them. A storage that cannot be looked at only warns.
pub async fn plan_internal_leftovers(
    sinks: &[Arc<dyn Sink>],
    now: OffsetDateTime,
    leftover_grace: Duration,
) -> Result<Vec<Leftover>, Error> {
    let mut leftovers = Vec::new();
    for sink in sinks {
        let items = leftovers_or_none(sink.as_ref(), LeftoverScope::Internal).await;
        leftovers.extend(
            items
                .into_iter()
                .map(|item| Leftover::judged(sink.name(), item, now, leftover_grace)),
        );
    }
    Ok(leftovers)
}

/// What a prune removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Backup copies removed (one per backup and storage).
    pub backups_removed: usize,
    /// Leftovers removed.
    pub leftovers_removed: usize,
    /// Bytes freed by removing backup copies (their objects as listed).
    pub backup_bytes_freed: u64,
    /// Bytes freed by removing leftovers (an unfinished upload's parts are not counted).
    pub leftover_bytes_freed: u64,
}

impl PruneReport {
    /// Every byte freed.
    pub fn bytes_freed(&self) -> u64 {
        self.backup_bytes_freed + self.leftover_bytes_freed
    }
}

/// Carries out `plan`: for each pruned backup and each storage holding it, the manifest first,
/// then every other object of its folder; then the leftovers that are past the grace period.
pub async fn execute_prune(
    plan: &PrunePlan,
    sinks: &[Arc<dyn Sink>],
) -> Result<PruneReport, Error> {
    let mut report = PruneReport::default();
    for (decision, storage) in plan.backups.iter().filter(|(d, _)| !d.keep) {
        for sink in sinks.iter().filter(|s| s.name() == storage) {
            let err = storage_error(sink.as_ref());
            let manifest_key = crate::manifest_key(&plan.source, &decision.id);
            let manifest_size = sink
                .stat(&manifest_key)
                .await
                .map_err(&err)?
                .map_or(0, |meta| meta.size);
            sink.delete(&manifest_key).await.map_err(&err)?;
            report.backup_bytes_freed += manifest_size;
            let folder = format!("{}/", crate::backup_dir(&plan.source, &decision.id));
            let rest: BTreeMap<String, u64> = sink
                .list(&folder)
                .await
                .map_err(&err)?
                .into_iter()
                .map(|o| (o.key, o.size))
                .collect();
            for (key, size) in rest {
                sink.delete(&key).await.map_err(&err)?;
                report.backup_bytes_freed += size;
            }
        }
        report.backups_removed += 1;
    }
    remove_leftovers(&plan.leftovers, sinks, &mut report).await?;
    Ok(report)
}

/// Removes the leftovers marked `remove`, adding to `report`. Used for a source's plan and for
/// the storages' temp areas ([`plan_internal_leftovers`]).
pub async fn remove_leftovers(
    leftovers: &[Leftover],
    sinks: &[Arc<dyn Sink>],
    report: &mut PruneReport,
) -> Result<(), Error> {
    let mut done = BTreeSet::new();
    for leftover in leftovers.iter().filter(|l| l.remove) {
        let Some(sink) = sinks.iter().find(|s| s.name() == leftover.storage) else {
            continue;
        };
        if !done.insert((&leftover.storage, &leftover.key, &leftover.upload_id)) {
            continue;
        }
        let err = storage_error(sink.as_ref());
        match leftover.kind {
            LeftoverKind::NoManifest => sink.delete(&leftover.key).await.map_err(err)?,
            _ => sink
                .remove_leftover(&leftover.as_storage_leftover())
                .await
                .map_err(err)?,
        }
        report.leftovers_removed += 1;
        report.leftover_bytes_freed += leftover.size;
    }
    Ok(())
}
