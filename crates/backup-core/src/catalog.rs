//! The catalog: the backups that exist are the manifests found in storage. No local state.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{self, StreamExt};

use crate::{BackupId, Error, Manifest, Sink, MANIFEST_FILE};

/// How many manifests are fetched at once.
const FETCH_CONCURRENCY: usize = 8;

/// One storage's copy of a backup, with that storage's own manifest (each copy is checked
/// against the manifest stored beside it).
#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    /// The storage's name.
    pub storage: String,
    /// The manifest found in that storage.
    pub manifest: Manifest,
}

/// One backup and its copies (the same id in two storages is one backup held twice).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// The manifest of the first copy, for display.
    pub manifest: Manifest,
    /// Every copy, in the order the storages were given.
    pub copies: Vec<Copy>,
}

impl CatalogEntry {
    /// Names of the storages holding a copy.
    pub fn storages(&self) -> Vec<String> {
        self.copies.iter().map(|c| c.storage.clone()).collect()
    }
}

/// The backups found across several storages, newest first, and what could not be read.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Backups, newest first.
    pub entries: Vec<CatalogEntry>,
    /// Storages that could not be listed and manifests that could not be read: when this is
    /// not empty the entries may be incomplete.
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

/// The manifests of one storage, and the ones that could not be read.
#[derive(Debug, Default)]
pub struct Listing {
    /// Readable manifests, newest first.
    pub manifests: Vec<Manifest>,
    /// One error per manifest that could not be fetched or parsed.
    pub errors: Vec<Error>,
}

/// Splits `<source>/<id>/manifest.json` into its parts, or `None` for anything else (data
/// objects, leftovers, temp files).
pub(crate) fn parse_manifest_key(key: &str) -> Option<(&str, BackupId)> {
    let mut parts = key.split('/');
    let (source, id, file) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || file != MANIFEST_FILE || !crate::is_valid_source_name(source) {
        return None;
    }
    Some((source, id.parse().ok()?))
}

/// Lists the manifests in one storage (all sources, or one), newest first. Data objects
/// without a manifest (leftovers of failed runs) are never listed. A manifest that cannot be
/// read is reported in [`Listing::errors`] without hiding the others; `Err` means the storage
/// itself could not be listed.
pub async fn list_manifests(sink: &dyn Sink, source: Option<&str>) -> Result<Listing, Error> {
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
    let results: Vec<Result<Manifest, Error>> = stream::iter(keys)
        .map(|(key, source, id)| read_manifest(sink, key, source, id))
        .buffer_unordered(FETCH_CONCURRENCY)
        .collect()
        .await;
    let mut listing = Listing::default();
    for result in results {
        match result {
            Ok(manifest) => listing.manifests.push(manifest),
            Err(err) => listing.errors.push(err),
        }
    }
    listing
        .manifests
        .sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
    Ok(listing)
}

pub(crate) async fn read_manifest(
    sink: &dyn Sink,
    key: String,
    source: String,
    id: BackupId,
) -> Result<Manifest, Error> {
    let bytes = sink.get(&key).await.map_err(|error| Error::Storage {
        storage: sink.name().to_string(),
        error,
    })?;
    let manifest = Manifest::from_json(&bytes).map_err(|error| Error::Manifest {
        storage: sink.name().to_string(),
        key: key.clone(),
        error,
    })?;
    if manifest.id != id || manifest.source.name != source {
        return Err(Error::Integrity {
            key: key.clone(),
            reason: format!(
                "manifest says {}/{}, but lives at {key}",
                lifeboat_edge::shown::excerpt_str(&manifest.source.name),
                manifest.id
            ),
        });
    }
    Ok(manifest)
}

/// The catalog of one source across `sinks`: a storage that cannot be listed is reported in
/// [`Catalog::errors`] and the others still count, so losing one copy loses nothing.
pub async fn catalog(sinks: &[Arc<dyn Sink>], source: &str) -> Catalog {
    let mut by_id: BTreeMap<BackupId, CatalogEntry> = BTreeMap::new();
    let mut errors = Vec::new();
    for sink in sinks {
        match list_manifests(sink.as_ref(), Some(source)).await {
            Ok(listing) => {
                errors.extend(listing.errors);
                for manifest in listing.manifests {
                    let copy = Copy {
                        storage: sink.name().to_string(),
                        manifest: manifest.clone(),
                    };
                    by_id
                        .entry(manifest.id.clone())
                        .or_insert_with(|| CatalogEntry {
                            manifest,
                            copies: Vec::new(),
                        })
                        .copies
                        .push(copy);
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
