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
    for leftover in &plan.leftovers {
        let age = leftover
            .last_modified
            .map(|m| format!("{}h old", (outcome.now - m).whole_hours()))
            .unwrap_or_else(|| "age unknown".to_string());
        table.add_row(vec![
            plan.source.clone(),
            leftover.key.clone(),
            "-".into(),
            if leftover.remove { verb } else { "keep" }.to_string(),
            if leftover.remove {
                format!("leftover of a failed run ({age})")
            } else {
                format!("no manifest yet ({age}): maybe a backup in progress")
            },
            leftover.storage.clone(),
        ]);
    }
    output::print(&table);
    if let Some(Ok(report)) = &outcome.removed {
        output::print(format_args!(
            "{}: removed {} backup copy(ies) and {} leftover object(s)",
            outcome.source, report.backups_removed, report.leftovers_removed
        ));
    }
}
