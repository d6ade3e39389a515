//! The catalog: the backups that exist are the manifests found in storage. No local state.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::{BackupId, Error, Manifest, Sink, MANIFEST_FILE};

/// How many manifests are fetched at once.
const FETCH_CONCURRENCY: usize = 8;

/// One backup and the storages that hold it (the same id in two storages is one backup held
/// twice).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// The manifest (from the first storage that has it).
    pub manifest: Manifest,
    /// Names of the storages that hold it, in the order they were given.
    pub storages: Vec<String>,
}

/// The backups found across several storages, newest first, and the storages that could not
/// be listed.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Backups, newest first.
    pub entries: Vec<CatalogEntry>,
    /// Storages whose listing failed (the entries are then partial).
    pub errors: Vec<Error>,
}

/// Which backup to pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The newest.
    Latest,
    /// A given id.
    Id(BackupId),
}

impl Catalog {
    /// The entry the selector names.
    pub fn select(&self, selector: &Selector) -> Option<&CatalogEntry> {
        match selector {
            Selector::Latest => self.entries.first(),
            Selector::Id(id) => self.entries.iter().find(|e| &e.manifest.id == id),
        }
    }
}

/// Splits `<source>/<id>/manifest.json` into its parts, or `None` for anything else (data
/// objects, leftovers, temp files).
fn parse_manifest_key(key: &str) -> Option<(&str, BackupId)> {
    let mut parts = key.split('/');
    let (source, id, file) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || file != MANIFEST_FILE || !crate::is_valid_source_name(source) {
        return None;
    }
    Some((source, id.parse().ok()?))
}

/// Lists the manifests in one storage (all sources, or one), newest first. Data objects
/// without a manifest (leftovers of failed runs) are never listed. A manifest that cannot be
/// read is an error, not silently skipped.
pub async fn list_manifests(sink: &dyn Sink, source: Option<&str>) -> Result<Vec<Manifest>, Error> {
    let prefix = source.map(crate::source_prefix).unwrap_or_default();
    let storage_err = |error| Error::Storage {
        storage: sink.name().to_string(),
        error,
    };
    let objects = sink.list(&prefix).await.map_err(storage_err)?;
    let keys: Vec<_> = objects
        .into_iter()
        .filter_map(|o| {
            parse_manifest_key(&o.key).map(|(s, id)| (o.key.clone(), s.to_string(), id))
        })
        .filter(|(_, s, _)| source.is_none_or(|wanted| wanted == s))
        .collect();
    let mut manifests: Vec<Manifest> = stream::iter(keys)
        .map(|(key, source, id)| async move {
            let bytes = sink.get(&key).await.map_err(|error| Error::Storage {
                storage: sink.name().to_string(),
                error,
            })?;
            let manifest_err = |error| Error::Manifest {
                storage: sink.name().to_string(),
                key: key.clone(),
                error,
            };
            let manifest = Manifest::from_json(&bytes).map_err(manifest_err)?;
            if manifest.id != id || manifest.source.name != source {
                return Err(Error::Integrity {
                    key: key.clone(),
                    reason: format!(
                        "manifest says {}/{}, but lives at {key}",
                        manifest.source.name, manifest.id
                    ),
                });
            }
            Ok(manifest)
        })
        .buffer_unordered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;
    manifests.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
    Ok(manifests)
}

/// The catalog of one source across `sinks`: a storage that cannot be listed is reported in
/// [`Catalog::errors`] and the others still count, so losing one copy loses nothing.
pub async fn catalog(sinks: &[Arc<dyn Sink>], source: &str) -> Catalog {
    let mut by_id: BTreeMap<BackupId, CatalogEntry> = BTreeMap::new();
    let mut errors = Vec::new();
    for sink in sinks {
        match list_manifests(sink.as_ref(), Some(source)).await {
            Ok(manifests) => {
                for manifest in manifests {
                    by_id
                        .entry(manifest.id.clone())
                        .or_insert_with(|| CatalogEntry {
                            manifest,
                            storages: Vec::new(),
                        })
                        .storages
                        .push(sink.name().to_string());
                }
            }
            Err(err) => errors.push(err),
        }
    }
    let mut entries: Vec<_> = by_id.into_values().collect();
    entries.sort_by(|a, b| {
        (b.manifest.started_at, &b.manifest.id).cmp(&(a.manifest.started_at, &a.manifest.id))
    });
    Catalog { entries, errors }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_manifest_keys_of_valid_shape_count() {
        assert!(parse_manifest_key("app/20260101T000000Z-abcdef/manifest.json").is_some());
        assert!(parse_manifest_key("app/20260101T000000Z-abcdef/data.db.zst").is_none());
        assert!(parse_manifest_key("App/20260101T000000Z-abcdef/manifest.json").is_none());
        assert!(parse_manifest_key("app/not-an-id/manifest.json").is_none());
        assert!(parse_manifest_key("app/20260101T000000Z-abcdef/x/manifest.json").is_none());
    }
}
