//! `lifeboat prune [NAME] [--dry-run]`: the plan of each source (keep or remove, and why),
//! and what was removed.

use lifeboat::{describe, Lifeboat, PruneOutcome, PruneRequest};

use crate::exit::{CliError, Exit};
use crate::output;

/// Prunes the selected sources; exit 1 (or the more telling code) if any could not be pruned.
pub async fn run(lifeboat: &Lifeboat, request: &PruneRequest<'_>) -> Result<Exit, CliError> {
    let run = lifeboat.prune(request).await?;
    for source in &run {
        let error = match &source.result {
            Ok(outcome) => {
                print_plan(outcome);
                outcome
                    .removed
                    .as_ref()
                    .and_then(|removed| removed.as_ref().err())
            }
            Err(error) => Some(error),
        };
        if let Some(error) = error {
            tracing::error!(source = %source.source, "prune failed, nothing more removed: {}", describe(error));
        }
    }
    Ok(Exit::worst(run.iter().map(|s| s.failure())))
}

/// The plan's table, then what its removal did (also after a backup with
/// `prune = "after-backup"`).
pub fn print_plan(outcome: &PruneOutcome) {
    let plan = &outcome.plan;
    let verb = if outcome.dry_run {
        "would remove"
    } else {
        "remove"
    };
    let mut table = output::table(&["source", "id", "started (UTC)", "action", "why", "storage"]);
    for (decision, storage) in &plan.backups {
        let started = decision
            .started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let reasons: Vec<String> = decision.reasons.iter().map(ToString::to_string).collect();
        table.add_row(vec![
            plan.source.clone(),
            decision.id.to_string(),
            output::timestamp(&started),
            if decision.keep { "keep" } else { verb }.to_string(),
            if decision.keep {
                reasons.join(", ")
            } else {
                "no rule keeps it".into()
            },
            storage.clone(),
        ]);
    }
    let age = |modified: Option<time::OffsetDateTime>| {
        modified
            .map(|m| format!("{}h old", (outcome.now - m).whole_hours()))
            .unwrap_or_else(|| "age unknown".to_string())
    };
    for leftover in &plan.leftovers {
        let why = if leftover.remove {
            format!(
                "leftover of a failed run: {} ({}, {})",
                leftover.kind,
                age(leftover.last_modified),
                output::size(leftover.size)
            )
        } else if leftover.last_modified.is_none() {
            format!("{}: age unknown, kept", leftover.kind)
        } else {
            format!(
                "{}, no manifest yet ({}): maybe a backup in progress",
                leftover.kind,
                age(leftover.last_modified)
            )
        };
        table.add_row(vec![
            plan.source.clone(),
            leftover.key.clone(),
            "-".into(),
            if leftover.remove { verb } else { "keep" }.to_string(),
            why,
            leftover.storage.clone(),
        ]);
    }
    for copy in &outcome.scratch {
        let why = if copy.remove {
            format!(
                "leftover of a failed run: scratch copy of pid {} ({}, {})",
                copy.pid,
                age(copy.last_modified),
                output::size(copy.size)
            )
        } else {
            format!("scratch copy of a running process (pid {})", copy.pid)
        };
        table.add_row(vec![
            plan.source.clone(),
            copy.path.display().to_string(),
            "-".into(),
            if copy.remove { verb } else { "keep" }.to_string(),
            why,
            "(this host)".into(),
        ]);
    }
    output::print(&table);
    match &outcome.removed {
        Some(Ok(report)) => output::print(format_args!(
            "{}: removed {} backup copy(ies) and {} leftover(s), freed {} ({} of leftovers)",
            outcome.source,
            report.backups_removed,
            report.leftovers_removed,
            output::size(report.bytes_freed()),
            output::size(report.leftover_bytes_freed),
        )),
        Some(Err(_)) => {}
        None => {
            let (count, bytes) = plan
                .leftovers
                .iter()
                .filter(|l| l.remove)
                .map(|l| l.size)
                .chain(outcome.scratch.iter().filter(|c| c.remove).map(|c| c.size))
                .fold((0, 0), |(n, total), size| (n + 1, total + size));
            output::print(format_args!(
                "{}: would remove {} backup copy(ies) and {count} leftover(s) ({} of leftovers)",
                outcome.source,
                plan.removed(),
                output::size(bytes),
            ));
        }
    }
}
