//! `lifeboat prune [NAME] [--dry-run]`: apply each source's retention and remove leftovers.

use std::sync::Arc;

use backup_core::prune::{execute_prune, plan_prune, PrunePlan, DEFAULT_LEFTOVER_GRACE};
use backup_core::Sink;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::find_source;
use crate::config::{Config, SourceConfig};
use crate::exit::{CliError, Exit};
use crate::{output, storage};

/// The prune command's arguments.
pub struct Args<'a> {
    /// Only this source.
    pub name: Option<&'a str>,
    /// Print the plan, remove nothing.
    pub dry_run: bool,
    /// Only this storage.
    pub storage: Option<&'a str>,
}

/// Prunes the selected sources; exit 1 if any could not be pruned.
pub async fn run(config: &Config, args: Args<'_>) -> Result<Exit, CliError> {
    let sources = match args.name {
        Some(name) => vec![find_source(config, name)?],
        None => config.sources.iter().collect(),
    };
    let mut exit = Exit::Success;
    for source in sources {
        let sinks = storage::for_source(config, source, args.storage)?;
        let result = if args.dry_run {
            // A plan changes nothing: no lock, so it also works on a read-only storage.
            prune_source(source, &sinks, true).await
        } else {
            match crate::locking::lock(config, &sinks, &source.name, "prune").await {
                Ok(guard) => {
                    let result = prune_source(source, &sinks, false).await;
                    crate::locking::unlock(guard, &source.name).await;
                    result
                }
                Err(err) => Err(err),
            }
        };
        if let Err(err) = result {
            tracing::error!(source = %source.name, "prune failed, nothing more removed: {}", err.message());
            exit = Exit::worst([exit, err.exit]);
        }
    }
    Ok(exit)
}

/// Plans, prints and (unless `dry_run`) carries out the prune of one source; the caller holds
/// the source's lock. Also used by `backup` for sources with `prune = "after-backup"`.
pub async fn prune_source(
    source: &SourceConfig,
    sinks: &[Arc<dyn Sink>],
    dry_run: bool,
) -> Result<(), CliError> {
    let policy = source.retention.clone().unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let plan = plan_prune(sinks, &source.name, &policy, now, DEFAULT_LEFTOVER_GRACE).await?;
    print_plan(&plan, now, dry_run);
    if dry_run {
        return Ok(());
    }
    let report = execute_prune(&plan, sinks).await?;
    output::print(format_args!(
        "{}: removed {} backup copy(ies) and {} leftover object(s)",
        source.name, report.backups_removed, report.leftovers_removed
    ));
    Ok(())
}

fn print_plan(plan: &PrunePlan, now: OffsetDateTime, dry_run: bool) {
    let verb = if dry_run { "would remove" } else { "remove" };
    let mut table = output::table(&["source", "id", "started (UTC)", "action", "why", "storage"]);
    for (decision, storage) in &plan.backups {
        let started = decision.started_at.format(&Rfc3339).unwrap_or_default();
        let reasons: Vec<String> = decision.reasons.iter().map(ToString::to_string).collect();
        table.add_row(vec![
            plan.source.clone(),
            decision.id.to_string(),
            started.get(..19).unwrap_or(&started).replace('T', " "),
            if decision.keep {
                "keep".into()
            } else {
                verb.to_string()
            },
            if decision.keep {
                reasons.join(", ")
            } else {
                "no rule keeps it".into()
            },
            storage.clone(),
        ]);
    }
    for leftover in &plan.leftovers {
        let age = leftover
            .last_modified
            .map(|m| format!("{}h old", (now - m).whole_hours()))
            .unwrap_or_else(|| "age unknown".to_string());
        table.add_row(vec![
            plan.source.clone(),
            leftover.key.clone(),
            "-".into(),
            if leftover.remove {
                verb.to_string()
            } else {
                "keep".into()
            },
            if leftover.remove {
                format!("leftover of a failed run ({age})")
            } else {
                format!("no manifest yet ({age}): maybe a backup in progress")
            },
            leftover.storage.clone(),
        ]);
    }
    output::print(&table);
}
