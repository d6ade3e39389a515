//! `lifeboat prune [NAME] [--dry-run] [--json]`: the plan of each source (keep or remove, and
//! why), and what was removed, with the bytes freed.

use lifeboat::{describe, Lifeboat, PruneOutcome, PruneRequest, SourcePrune};
use serde::Serialize;

use crate::exit::{CliError, Exit};
use crate::output;

/// One source in `prune --json` (README, "`prune --json`").
#[derive(Debug, Serialize)]
struct Shown<'a> {
    source: &'a str,
    dry_run: bool,
    ok: bool,
    exit_code: u8,
    error: Option<String>,
    backups: Vec<ShownBackup>,
    leftovers: Vec<ShownLeftover>,
    removed: Option<ShownRemoved>,
}

/// One backup copy's decision.
#[derive(Debug, Serialize)]
struct ShownBackup {
    id: String,
    storage: String,
    keep: bool,
    reasons: Vec<String>,
}

/// One leftover.
#[derive(Debug, Serialize)]
struct ShownLeftover {
    storage: String,
    kind: backup_core::leftovers::LeftoverKind,
    key: String,
    size: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    last_modified: Option<time::OffsetDateTime>,
    remove: bool,
}

/// What the removal did.
#[derive(Debug, Serialize)]
struct ShownRemoved {
    backups: usize,
    leftovers: usize,
    bytes_freed: u64,
    leftover_bytes_freed: u64,
}

impl<'a> From<&'a SourcePrune> for Shown<'a> {
    fn from(pruned: &'a SourcePrune) -> Self {
        let error = match &pruned.result {
            Ok(outcome) => outcome.removed.as_ref().and_then(|r| r.as_ref().err()),
            Err(error) => Some(error),
        };
        let mut shown = Self {
            source: &pruned.source,
            dry_run: false,
            ok: error.is_none(),
            exit_code: pruned.failure().map_or(0, |f| Exit::from(f) as u8),
            error: error.map(|e| describe(e)),
            backups: Vec::new(),
            leftovers: Vec::new(),
            removed: None,
        };
        let Ok(outcome) = &pruned.result else {
            return shown;
        };
        shown.dry_run = outcome.dry_run;
        shown.backups = outcome
            .plan
            .backups
            .iter()
            .map(|(decision, storage)| ShownBackup {
                id: decision.id.to_string(),
                storage: storage.clone(),
                keep: decision.keep,
                reasons: decision.reasons.iter().map(ToString::to_string).collect(),
            })
            .collect();
        shown.leftovers = outcome
            .plan
            .leftovers
            .iter()
            .map(|l| ShownLeftover {
                storage: l.storage.clone(),
                kind: l.kind,
                key: l.key.clone(),
                size: l.size,
                last_modified: l.last_modified,
                remove: l.remove,
            })
            .chain(outcome.scratch.iter().map(|c| ShownLeftover {
                storage: "(this host)".to_string(),
                kind: backup_core::leftovers::LeftoverKind::ScratchCopy,
                key: c.path.display().to_string(),
                size: c.size,
                last_modified: c.last_modified,
                remove: c.remove,
            }))
            .collect();
        if let Some(Ok(report)) = &outcome.removed {
            shown.removed = Some(ShownRemoved {
                backups: report.backups_removed,
                leftovers: report.leftovers_removed,
                bytes_freed: report.bytes_freed(),
                leftover_bytes_freed: report.leftover_bytes_freed,
            });
        }
        shown
    }
}

/// Prunes the selected sources; exit 1 (or the more telling code) if any could not be pruned.
pub async fn run(
    lifeboat: &Lifeboat,
    request: &PruneRequest<'_>,
    json: bool,
) -> Result<Exit, CliError> {
    let run = lifeboat.prune(request).await?;
    if json {
        let shown: Vec<Shown<'_>> = run.iter().map(Shown::from).collect();
        super::print_json(&shown)?;
    }
    for source in &run {
        let error = match &source.result {
            Ok(outcome) => {
                if !json {
                    print_plan(outcome);
                }
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
