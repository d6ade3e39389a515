//! Verify: every copy of the chosen backup is re-read from storage through both checksums,
//! decryption and decompression, and its format checked — or, with `deep`, restored into a
//! scratch target the store creates and removes (a restore drill). Each result is recorded
//! beside the copy it checked (`verify.json`), which `status` reports.
//!
//! For SQLite and files the format check already is a restore into a private copy (SQLite:
//! `PRAGMA integrity_check` and row counts against the manifest; files: the whole archive
//! parsed, path-checked and counted), so `deep` adds nothing for them.

use std::time::Instant;

use backup_core::catalog::{catalog, Selector};
use backup_core::pipeline::{run_check, RestoreRequest};
use backup_core::verify_record::{verify_key, write_verify_record, VerifyRecord, VERIFY_FORMAT};
use backup_core::{manifest_key, Report, Sink, SinkError};

use crate::config::SourceConfig;
use crate::observe::Shown;
use crate::{describe, keys, storage, stores, Lifeboat, OpError};

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyRequest<'a> {
    /// Only this source (default: all).
    pub source: Option<&'a str>,
    /// Which backup of each source.
    pub selector: Selector,
    /// Restore into a scratch target (a drill) instead of the format check.
    pub deep: bool,
    /// Only this storage.
    pub storage: Option<&'a str>,
}

/// One verified copy (or a reason nothing could be verified).
#[derive(Debug)]
pub struct Checked {
    /// The source.
    pub source: String,
    /// The backup, when one was selected.
    pub id: Option<String>,
    /// The storage of the copy, when the result is about one copy.
    pub storage: Option<String>,
    /// What the check found, or why it failed.
    pub result: Result<Report, OpError>,
}

impl Checked {
    /// Whether the check passed.
    pub fn ok(&self) -> bool {
        self.result.is_ok()
    }
}

impl Lifeboat {
    /// Verifies the selected backup of each selected source, in every storage holding it.
    pub async fn verify(&self, request: &VerifyRequest<'_>) -> Result<Vec<Checked>, OpError> {
        let mut results = Vec::new();
        for source in self.select_one_or_all(request.source)? {
            results.extend(
                self.verify_source(source, &request.selector, request.deep, request.storage)
                    .await?,
            );
        }
        Ok(results)
    }

    /// Verifies the selected backup of one source in every storage holding it (or only
    /// `only_storage`), recording each result beside the copy it checked. `Err` only when a
    /// storage cannot even be opened; everything else is a failed [`Checked`].
    pub async fn verify_source(
        &self,
        source: &SourceConfig,
        selector: &Selector,
        deep: bool,
        only_storage: Option<&str>,
    ) -> Result<Vec<Checked>, OpError> {
        let failed = |id: Option<String>, storage: Option<String>, error: OpError| Checked {
            source: source.name.clone(),
            id,
            storage,
            result: Err(error),
        };
        let sinks = storage::for_source(self.config(), source, only_storage)?;
        let found = catalog(&sinks, &source.name).await;
        let mut results: Vec<Checked> = found
            .errors
            .into_iter()
            .map(|error| failed(None, None, error.into()))
            .collect();
        let Some(entry) = found.entries.iter().find(|e| match selector {
            Selector::Latest => true,
            Selector::Id(id) => &e.manifest.id == id,
        }) else {
            results.push(failed(
                None,
                None,
                OpError::NoBackup {
                    which: "no backup".to_string(),
                    source_name: source.name.clone(),
                    storages: sinks
                        .iter()
                        .map(|s| s.name().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            ));
            return Ok(results);
        };
        let id = Some(entry.manifest.id.to_string());
        let (keyring, check) = match (
            keys::keyring_for(self.config(), &entry.manifest),
            stores::check_of(source, deep),
        ) {
            (Ok(keyring), Ok(check)) => (keyring, check),
            (Err(error), _) | (_, Err(error)) => {
                results.push(failed(id, None, error));
                return Ok(results);
            }
        };
        // Each copy is checked against the manifest stored beside it.
        for copy in &entry.copies {
            let Some(sink) = sinks.iter().find(|s| s.name() == copy.storage) else {
                continue;
            };
            let manifest = &copy.manifest;
            let shown = Shown::new(
                self.observer(),
                &source.name,
                Some(manifest.artifact.stored_bytes),
            );
            let request = RestoreRequest {
                sink: sink.as_ref(),
                manifest,
                keyring: &keyring,
                progress: shown.progress(),
            };
            let clock = Instant::now();
            let result = run_check(&request, check.as_ref()).await;
            drop(shown);
            let record = VerifyRecord {
                format: VERIFY_FORMAT.to_string(),
                id: manifest.id.clone(),
                storage: copy.storage.clone(),
                verified_at: time::OffsetDateTime::now_utc(),
                ok: result.is_ok(),
                deep,
                duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
                summary: match &result {
                    Ok(report) => report.summary.clone(),
                    Err(error) => describe(error),
                },
            };
            // `status` reports the last drill from this record; a read-only storage just does
            // not get one, nor a backup pruned meanwhile.
            match record_beside_manifest(sink.as_ref(), &source.name, &record).await {
                Ok(true) => {}
                Ok(false) => tracing::info!(storage = %copy.storage, id = %manifest.id,
                    "not recording the verify result: the backup was removed meanwhile"),
                Err(error) => tracing::warn!(storage = %copy.storage,
                    "could not record the verify result: {error}"),
            }
            if let Err(error) = &result {
                tracing::error!(source = %source.name, storage = %copy.storage,
                    "verify failed: {}", describe(error));
            }
            results.push(Checked {
                source: source.name.clone(),
                id: id.clone(),
                storage: Some(copy.storage.clone()),
                result: result.map_err(OpError::from),
            });
        }
        Ok(results)
    }
}

/// Writes `record` beside its backup's manifest, only if the manifest is still there; returns
/// whether the record stays. Prune removes a backup's manifest first, then what its folder
/// holds: if the manifest is gone after the write, the record is removed again (on fs with
/// the folders it emptied), so either prune's listing sees the record or this check sees the
/// manifest gone, and no folder of a pruned backup is left behind.
pub(crate) async fn record_beside_manifest(
    sink: &dyn Sink,
    source: &str,
    record: &VerifyRecord,
) -> Result<bool, SinkError> {
    let manifest = manifest_key(source, &record.id);
    if sink.stat(&manifest).await?.is_none() {
        return Ok(false);
    }
    write_verify_record(sink, source, record).await?;
    if sink.stat(&manifest).await?.is_none() {
        sink.delete(&verify_key(source, &record.id)).await?;
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use backup_core::BackupId;
    use lifeboat_sinks::{FsStorage, OpendalSink, StorageConfig};

    fn record(id: &BackupId) -> VerifyRecord {
        VerifyRecord {
            format: VERIFY_FORMAT.to_string(),
            id: id.clone(),
            storage: "local".into(),
            verified_at: time::OffsetDateTime::now_utc(),
            ok: true,
            deep: false,
            duration_ms: 1,
            summary: "ok".into(),
        }
    }

    #[tokio::test]
    async fn a_pruned_backup_gets_no_record_and_its_folder_stays_gone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("backups");
        let sink = OpendalSink::new(
            "local",
            &StorageConfig::Fs(FsStorage {
                root: root.clone(),
                ..FsStorage::default()
            }),
        )
        .unwrap();
        let kept = BackupId::new(time::OffsetDateTime::now_utc());
        let pruned: BackupId = "20200101T000000Z-abcdef".parse().unwrap();
        for id in [&kept, &pruned] {
            sink.put(&manifest_key("app", id), b"{}".to_vec().into())
                .await
                .unwrap();
        }
        // Prune removes the manifest, then the rest of the folder, while verify runs.
        sink.delete(&manifest_key("app", &pruned)).await.unwrap();
        let folder = root.join(backup_core::backup_dir("app", &pruned));
        assert!(!folder.exists());

        assert!(!record_beside_manifest(&sink, "app", &record(&pruned))
            .await
            .unwrap());
        assert!(!folder.exists(), "verify brought back {folder:?}");

        assert!(record_beside_manifest(&sink, "app", &record(&kept))
            .await
            .unwrap());
        assert!(sink
            .stat(&verify_key("app", &kept))
            .await
            .unwrap()
            .is_some());
    }
}
