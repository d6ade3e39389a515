//! `lifeboat list [NAME] [--json]`: the backups found in storage.

use backup_core::catalog::{catalog, CatalogEntry};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use super::find_source;
use crate::config::Config;
use crate::exit::{CliError, Exit};
use crate::{output, storage};

/// One backup in `list --json` (a stable, documented shape: see README).
#[derive(Debug, Serialize)]
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
    /// stored / raw.
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

/// Lists backups of one source or all, newest first per source.
pub async fn run(
    config: &Config,
    name: Option<&str>,
    only_storage: Option<&str>,
    json: bool,
) -> Result<Exit, CliError> {
    let sources = match name {
        Some(name) => vec![find_source(config, name)?],
        None => config.sources.iter().collect(),
    };
    let mut listed = Vec::new();
    let mut exit = Exit::Success;
    for source in sources {
        let sinks = storage::for_source(config, source, only_storage)?;
        let found = catalog(&sinks, &source.name).await;
        for error in &found.errors {
            tracing::error!(source = %source.name, "listing is incomplete: {error}");
            exit = Exit::worst([exit, crate::exit::Exit::of(error)]);
        }
        listed.extend(found.entries.iter().map(ListedBackup::from));
    }
    if json {
        let text = serde_json::to_string_pretty(&listed)
            .map_err(|e| CliError::failure(format!("cannot encode JSON: {e}")))?;
        crate::output::print(&text);
    } else if listed.is_empty() {
        crate::output::print(format_args!("no backups found"));
    } else {
        let mut table = output::table(&[
            "source",
            "id",
            "started (UTC)",
            "raw",
            "stored",
            "ratio",
            "duration",
            "storages",
        ]);
        for b in &listed {
            table.add_row(vec![
                b.source.clone(),
                b.id.clone(),
                b.started_at
                    .get(..19)
                    .unwrap_or(&b.started_at)
                    .replace('T', " "),
                output::size(b.raw_bytes),
                output::size(b.stored_bytes),
                output::ratio(b.ratio),
                output::duration_ms(b.duration_ms),
                b.storages.join(", "),
            ]);
        }
        crate::output::print(&table);
    }
    Ok(exit)
}
