//! `lifeboat restore NAME [--id ID|latest] [--to URL|PATH] [--force] [--dry-run]`.
//!
//! `--dry-run` changes nothing. The server stores' targets report what they would do (created,
//! existing, conflicting objects); for sqlite and files, whose targets have nothing more to
//! say, the backup is read through the format check and the target's emptiness is tested.

use backup_core::catalog::{catalog, Selector};
use backup_core::pipeline::{run_check, run_restore, RestoreRequest};
use backup_core::{ErrorClass, RestoreOptions};

use super::find_source;
use crate::config::Config;
use crate::exit::{CliError, Exit};
use crate::{keys, progress, registry, storage};

/// The restore command's arguments.
pub struct Args<'a> {
    /// Source name.
    pub name: &'a str,
    /// Which backup.
    pub selector: Selector,
    /// Somewhere else than the source's own location.
    pub to: Option<&'a str>,
    /// Overwrite a target holding data.
    pub force: bool,
    /// Change nothing; say what the restore would do.
    pub dry_run: bool,
    /// Only this storage.
    pub storage: Option<&'a str>,
}

/// Restores one backup; tries the next storage holding it when a copy is damaged or
/// unreachable (the target stages everything, so a failed attempt changed nothing).
pub async fn run(config: &Config, args: Args<'_>) -> Result<Exit, CliError> {
    let source = find_source(config, args.name)?;
    let target = registry::target_for(source, args.to)?;
    let sinks = storage::for_source(config, source, args.storage)?;
    // The lock keeps a prune from removing the backup while it is read. A storage that cannot
    // take it (a read-only disk) cannot be pruned either: restore without it.
    let guard = match crate::locking::lock(config, &sinks, &source.name, "restore").await {
        Ok(guard) => Some(guard),
        Err(err) if err.exit == Exit::Locked => return Err(err),
        Err(err) => {
            tracing::warn!(source = %source.name, "restoring without a lock: {}", err.message());
            None
        }
    };
    let result = select_and_restore(config, &args, source, &sinks, target.as_ref()).await;
    if let Some(guard) = guard {
        crate::locking::unlock(guard, &source.name).await;
    }
    result
}

/// Under the lock: picks the backup from the catalog and restores it.
async fn select_and_restore(
    config: &Config,
    args: &Args<'_>,
    source: &crate::config::SourceConfig,
    sinks: &[std::sync::Arc<dyn backup_core::Sink>],
    target: &dyn backup_core::Target,
) -> Result<Exit, CliError> {
    let found = catalog(sinks, &source.name).await;
    for error in &found.errors {
        // Not only a log line: with `latest`, an unreadable storage may hide a newer backup.
        eprintln!(
            "warning: the catalog is incomplete, a newer backup may exist: {}",
            crate::exit::describe(error)
        );
    }
    let Some(entry) = found.select(&args.selector) else {
        let which = match &args.selector {
            Selector::Latest => "no backup".to_string(),
            Selector::Id(id) => format!("no backup with id {id}"),
        };
        let storages: Vec<_> = sinks.iter().map(|s| s.name().to_string()).collect();
        return Err(CliError::failure(format!(
            "{which} of `{}` found in storage {}",
            source.name,
            storages.join(", ")
        )));
    };
    let keyring = keys::keyring_for(config, &entry.manifest)?;
    let options = RestoreOptions {
        force: args.force,
        dry_run: args.dry_run,
    };
    restore_entry(sinks, source, entry, target, &keyring, &options).await
}

/// Restores `entry` from the first copy that works.
async fn restore_entry(
    sinks: &[std::sync::Arc<dyn backup_core::Sink>],
    source: &crate::config::SourceConfig,
    entry: &backup_core::catalog::CatalogEntry,
    target: &dyn backup_core::Target,
    keyring: &backup_core::transform::Keyring,
    options: &RestoreOptions,
) -> Result<Exit, CliError> {
    let mut last_error = None;
    for (index, copy) in entry.copies.iter().enumerate() {
        let (storage_name, manifest) = (&copy.storage, &copy.manifest);
        let Some(sink) = sinks.iter().find(|s| s.name() == storage_name) else {
            continue;
        };
        tracing::info!(source = %source.name, id = %manifest.id, storage = %storage_name,
            target = %target.describe(), "restoring");
        let bar = progress::bar(&source.name, Some(manifest.artifact.stored_bytes));
        let request = RestoreRequest {
            sink: sink.as_ref(),
            manifest,
            keyring,
            progress: bar.clone().map(|b| b as _),
        };
        let result = if options.dry_run && !registry::target_does_dry_run(source) {
            dry_run_by_check(&request, source, target, options).await
        } else {
            run_restore(&request, target, options).await
        };
        if let Some(bar) = bar {
            bar.finish();
        }
        match result {
            Ok(report) => {
                let verb = if options.dry_run {
                    "dry run (nothing changed) of restoring"
                } else {
                    "restored"
                };
                crate::output::print(format_args!(
                    "{verb} backup {} of `{}` ({}) from storage `{storage_name}`: {}",
                    manifest.id,
                    source.name,
                    manifest
                        .started_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    report.summary
                ));
                return Ok(Exit::Success);
            }
            Err(err) => {
                let retry = matches!(err.class(), ErrorClass::Integrity)
                    || matches!(err, backup_core::Error::Storage { .. });
                if retry && index + 1 < entry.copies.len() {
                    tracing::warn!(storage = %storage_name, "this copy cannot be restored ({err}); trying the next storage");
                    last_error = Some(err);
                    continue;
                }
                return Err(err.into());
            }
        }
    }
    Err(match last_error {
        Some(err) => err.into(),
        None => CliError::failure("no storage holding the backup is configured for this source"),
    })
}

/// `--dry-run` for a target that cannot report more than its format check: the backup is
/// read through the check, and the target's own emptiness test says whether the restore would
/// be refused.
async fn dry_run_by_check(
    request: &RestoreRequest<'_>,
    source: &crate::config::SourceConfig,
    target: &dyn backup_core::Target,
    options: &RestoreOptions,
) -> Result<backup_core::Report, backup_core::Error> {
    let check =
        registry::check_for(source, &request.manifest.dump_format, false).map_err(|err| {
            backup_core::Error::Target {
                target: target.describe(),
                error: backup_core::StoreError::failed(err.message()),
            }
        })?;
    let mut report = run_check(request, check.as_ref()).await?;
    let verdict = match target.prepare(request.manifest, options).await {
        Ok(()) => format!("would restore to {}", target.describe()),
        Err(err) => format!("would be refused: {err}"),
    };
    report.summary = format!("{}; {verdict}", report.summary);
    Ok(report)
}
