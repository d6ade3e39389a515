//! Prune: apply a retention policy to one source's backups and remove leftovers.
//!
//! Planning reads every storage the source names; any listing or manifest that cannot be read
//! aborts the plan (a partial view could remove the wrong backups). Executing removes each
//! pruned backup's manifest first — from then on it is no longer a backup — then its data.
//! Leftovers (objects of a backup folder with no manifest: failed or killed runs) are removed
//! only once they are older than a grace period, so a backup in progress is never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::catalog::{parse_manifest_key, read_manifest};
use crate::retention::{Candidate, Decision, KeepOptions};
use crate::{BackupId, Error, Manifest, ObjectMeta, Sink};

/// How old a leftover must be before prune removes it, by default: no backup runs this long
/// without writing its manifest... and a day is far beyond any upload's duration.
pub const DEFAULT_LEFTOVER_GRACE: Duration = Duration::hours(24);

/// One object that belongs to no backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The storage holding it.
    pub storage: String,
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, when the storage says.
    pub last_modified: Option<OffsetDateTime>,
    /// Whether it is old enough to remove (unknown age: never).
    pub remove: bool,
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
}

async fn view(sink: &dyn Sink, source: &str) -> Result<StorageView, Error> {
    let objects = sink
        .list(&crate::source_prefix(source))
        .await
        .map_err(|error| Error::Storage {
            storage: sink.name().to_string(),
            error,
        })?;
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
    Ok(StorageView {
        storage: sink.name().to_string(),
        objects,
        manifests,
    })
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
    for view in &views {
        for object in &view.objects {
            let Some(id) = id_of(source, &object.key) else {
                continue; // not in lifeboat's layout: not ours to judge
            };
            if view.manifests.contains_key(&id) {
                continue;
            }
            let remove = object
                .last_modified
                .is_some_and(|modified| now - modified >= leftover_grace);
            leftovers.push(Leftover {
                storage: view.storage.clone(),
                key: object.key.clone(),
                size: object.size,
                last_modified: object.last_modified,
                remove,
            });
        }
    }
    Ok(PrunePlan {
        source: source.to_string(),
        backups,
        leftovers,
    })
}

/// What a prune removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Backup copies removed (one per backup and storage).
    pub backups_removed: usize,
    /// Leftover objects removed.
    pub leftovers_removed: usize,
}

/// Carries out `plan`: for each pruned backup and each storage holding it, the manifest first,
/// then every other object of its folder; then the leftovers that are old enough.
pub async fn execute_prune(
    plan: &PrunePlan,
    sinks: &[Arc<dyn Sink>],
) -> Result<PruneReport, Error> {
    let mut report = PruneReport::default();
    let storage_err = |sink: &Arc<dyn Sink>| {
        let storage = sink.name().to_string();
        move |error| Error::Storage {
            storage: storage.clone(),
            error,
        }
    };
    for (decision, storage) in plan.backups.iter().filter(|(d, _)| !d.keep) {
        for sink in sinks.iter().filter(|s| s.name() == storage) {
            let manifest_key = crate::manifest_key(&plan.source, &decision.id);
            sink.delete(&manifest_key)
                .await
                .map_err(storage_err(sink))?;
            let folder = format!("{}/", crate::backup_dir(&plan.source, &decision.id));
            let rest: BTreeSet<String> = sink
                .list(&folder)
                .await
                .map_err(storage_err(sink))?
                .into_iter()
                .map(|o| o.key)
                .collect();
            for key in rest {
                sink.delete(&key).await.map_err(storage_err(sink))?;
            }
        }
        report.backups_removed += 1;
    }
    for leftover in plan.leftovers.iter().filter(|l| l.remove) {
        if let Some(sink) = sinks.iter().find(|s| s.name() == leftover.storage) {
            sink.delete(&leftover.key)
                .await
                .map_err(storage_err(sink))?;
            report.leftovers_removed += 1;
        }
    }
    Ok(report)
}
