//! List: the backups found in storage, newest first per source, in the stable shape of
//! `list --json` (README, "`list --json`").

use backup_core::catalog::{catalog, CatalogEntry};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::{storage, Lifeboat, OpError};

/// One backup as `list --json` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedBackup {
    /// Source name.
    pub source: String,
    /// Backup id.
    pub id: String,
    /// Source kind.
    pub kind: String,
    /// Dump format.
    pub dump_format: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub finished_at: String,
    /// Wall time in ms.
    pub duration_ms: u64,
    /// Raw dump bytes.
    pub raw_bytes: u64,
    /// Stored bytes.
    pub stored_bytes: u64,
    /// stored / raw, rounded to three decimals.
    pub ratio: f64,
    /// Whether the stored object is encrypted.
    pub encrypted: bool,
    /// Storages holding it.
    pub storages: Vec<String>,
    /// The data object's key.
    pub artifact_key: String,
    /// The store's own description of the dump, as in the manifest (versions, row or key
    /// counts per table or db, queue counts...).
    pub metadata: serde_json::Value,
}

impl From<&CatalogEntry> for ListedBackup {
    fn from(entry: &CatalogEntry) -> Self {
        let m = &entry.manifest;
        Self {
            source: m.source.name.clone(),
            id: m.id.to_string(),
            kind: m.source.kind.clone(),
            dump_format: m.dump_format.clone(),
            started_at: m.started_at.format(&Rfc3339).unwrap_or_default(),
            finished_at: m.finished_at.format(&Rfc3339).unwrap_or_default(),
            duration_ms: m.duration_ms,
            raw_bytes: m.artifact.raw_bytes,
            stored_bytes: m.artifact.stored_bytes,
            ratio: (m.ratio() * 1000.0).round() / 1000.0,
            encrypted: m.is_encrypted(),
            storages: entry.storages(),
            artifact_key: m.artifact.key.clone(),
            metadata: m.metadata.clone(),
        }
    }
}

/// The backups found, and what could not be read (the list may then be incomplete).
#[derive(Debug, Default)]
pub struct Listing {
    /// Backups, newest first per source, sources in config order.
    pub backups: Vec<ListedBackup>,
    /// Storages that could not be listed and manifests that could not be read.
    pub errors: Vec<(String, OpError)>,
}

impl Lifeboat {
    /// Lists the backups of one source or all, in every storage they name (or only `storage`).
    pub async fn list(
        &self,
        source: Option<&str>,
        only_storage: Option<&str>,
    ) -> Result<Listing, OpError> {
        let mut listing = Listing::default();
        for source in self.select_one_or_all(source)? {
            let sinks = storage::for_source(self.config(), source, only_storage)?;
            let found = catalog(&sinks, &source.name).await;
            listing.errors.extend(
                found
                    .errors
                    .into_iter()
                    .map(|error| (source.name.clone(), error.into())),
            );
            listing
                .backups
                .extend(found.entries.iter().map(ListedBackup::from));
        }
        Ok(listing)
    }
}
