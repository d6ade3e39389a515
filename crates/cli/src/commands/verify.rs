//! `lifeboat verify [NAME] [--id ID] [--deep]`: every copy of the chosen backup is re-read
//! from storage through both checksums, decryption and decompression, and its format checked.
//!
//! For SQLite and files sources the format check already is a restore into a scratch copy
//! (SQLite: a private temp database, `PRAGMA integrity_check` and row counts against the
//! manifest; files: the whole archive parsed, path-checked and counted), so `--deep` adds
//! nothing for them; stores with a server (postgres, redis, rabbitmq) restore into a scratch
//! database for `--deep`.

use backup_core::catalog::{catalog, Selector};
use backup_core::pipeline::{run_check, RestoreRequest};
use backup_core::verify_record::{write_verify_record, VerifyRecord, VERIFY_FORMAT};
use serde::Serialize;

use super::find_source;
use crate::config::Config;
use crate::exit::{CliError, Exit};
use crate::{keys, output, progress, registry, storage};

/// The verify command's arguments.
pub struct Args<'a> {
    /// Only this source.
    pub name: Option<&'a str>,
    /// Which backup of each source.
    pub selector: Selector,
    /// Restore drill into a scratch target.
    pub deep: bool,
    /// Only this storage.
    pub storage: Option<&'a str>,
    /// JSON output.
    pub json: bool,
}

/// One checked copy in `verify --json`.
#[derive(Debug, Serialize)]
pub(crate) struct Checked {
    source: String,
    id: Option<String>,
    storage: Option<String>,
    pub(crate) ok: bool,
    exit_code: u8,
    summary: String,
    details: serde_json::Value,
}

/// Verifies the selected backup of each selected source, in every storage holding it.
pub async fn run(config: &Config, args: Args<'_>) -> Result<Exit, CliError> {
    let sources = match args.name {
        Some(name) => vec![find_source(config, name)?],
        None => config.sources.iter().collect(),
    };
    let mut results = Vec::new();
    for source in sources {
        results
            .extend(verify_source(config, source, &args.selector, args.deep, args.storage).await?);
    }
    print(&results, args.json)?;
    Ok(Exit::worst(results.iter().map(|r| match r.exit_code {
        0 => Exit::Success,
        12 => Exit::Decrypt,
        13 => Exit::Integrity,
        2 => Exit::Usage,
        _ => Exit::Failure,
    })))
}

/// Verifies the selected backup of one source in every storage holding it (or only `storage`),
/// recording each result beside the copy it checked. Used by `verify` and by the daemon's
/// `verify_schedule`.
pub(crate) async fn verify_source(
    config: &Config,
    source: &crate::config::SourceConfig,
    selector: &Selector,
    deep: bool,
    only_storage: Option<&str>,
) -> Result<Vec<Checked>, CliError> {
    let mut results = Vec::new();
    let failed = |id: Option<String>, storage: Option<String>, err: CliError| Checked {
        source: source.name.clone(),
        id,
        storage,
        ok: false,
        exit_code: err.exit as u8,
        summary: err.message(),
        details: serde_json::Value::Null,
    };
    let sinks = match storage::for_source(config, source, only_storage) {
        Ok(sinks) => sinks,
        Err(err) => return Err(err),
    };
    let found = catalog(&sinks, &source.name).await;
    for error in &found.errors {
        results.push(failed(
            None,
            None,
            CliError {
                exit: Exit::of(error),
                error: anyhow::anyhow!("{error}"),
            },
        ));
    }
    let Some(entry) = found.select(selector) else {
        results.push(failed(
            None,
            None,
            CliError::failure("no backup found to verify"),
        ));
        return Ok(results);
    };
    let id = Some(entry.manifest.id.to_string());
    let (keyring, check) = match (
        keys::keyring_for(config, &entry.manifest),
        registry::check_for(source, &entry.manifest.dump_format, deep),
    ) {
        (Ok(keyring), Ok(check)) => (keyring, check),
        (Err(err), _) | (_, Err(err)) => {
            results.push(failed(id, None, err));
            return Ok(results);
        }
    };
    // Each copy is checked against the manifest stored beside it.
    for copy in &entry.copies {
        let (storage_name, manifest) = (&copy.storage, &copy.manifest);
        let Some(sink) = sinks.iter().find(|s| s.name() == storage_name) else {
            continue;
        };
        let bar = progress::bar(&source.name, Some(manifest.artifact.stored_bytes));
        let request = RestoreRequest {
            sink: sink.as_ref(),
            manifest,
            keyring: &keyring,
            progress: bar.clone().map(|b| b as _),
        };
        let clock = std::time::Instant::now();
        let result = run_check(&request, check.as_ref()).await;
        if let Some(bar) = bar {
            bar.finish();
        }
        let record = VerifyRecord {
            format: VERIFY_FORMAT.to_string(),
            id: manifest.id.clone(),
            storage: storage_name.clone(),
            verified_at: time::OffsetDateTime::now_utc(),
            ok: result.is_ok(),
            deep,
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            summary: match &result {
                Ok(report) => report.summary.clone(),
                Err(err) => crate::exit::describe(err),
            },
        };
        // `status` reports the last drill from this record; a read-only storage just
        // does not get one.
        if let Err(err) = write_verify_record(sink.as_ref(), &source.name, &record).await {
            tracing::warn!(storage = %storage_name, "could not record the verify result: {err}");
        }
        results.push(match result {
            Ok(report) => Checked {
                source: source.name.clone(),
                id: id.clone(),
                storage: Some(storage_name.clone()),
                ok: true,
                exit_code: 0,
                summary: report.summary,
                details: report.details,
            },
            Err(err) => {
                tracing::error!(source = %source.name, storage = %storage_name, "verify failed: {}", crate::exit::describe(&err));
                failed(id.clone(), Some(storage_name.clone()), err.into())
            }
        });
    }

    Ok(results)
}

fn print(results: &[Checked], json: bool) -> Result<(), CliError> {
    if json {
        let text = serde_json::to_string_pretty(results)
            .map_err(|e| CliError::failure(format!("cannot encode JSON: {e}")))?;
        crate::output::print(&text);
        return Ok(());
    }
    let mut table = output::table(&["source", "id", "storage", "result", "detail"]);
    for r in results {
        table.add_row(vec![
            r.source.clone(),
            r.id.clone().unwrap_or_else(|| "-".into()),
            r.storage.clone().unwrap_or_else(|| "-".into()),
            if r.ok { "ok".into() } else { "FAILED".into() },
            r.summary.clone(),
        ]);
    }
    crate::output::print(&table);
    Ok(())
}
