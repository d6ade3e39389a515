//! `lifeboat status [NAME] [--json]`: the health of each source; exit 4 when anything is
//! unhealthy, so any monitoring system can run it.

use lifeboat::{Lifeboat, SourceStatus};
use time::OffsetDateTime;

use crate::exit::{CliError, Exit};
use crate::output;

/// Reports on one source or all.
pub async fn run(lifeboat: &Lifeboat, name: Option<&str>, json: bool) -> Result<Exit, CliError> {
    let report = lifeboat.status(name, OffsetDateTime::now_utc()).await?;
    if json {
        super::print_json(&report)?;
    } else {
        print_table(&report);
    }
    Ok(if report.iter().all(|s| s.healthy) {
        Exit::Success
    } else {
        Exit::Unhealthy
    })
}

fn hours(seconds: i64) -> String {
    if seconds < 3600 {
        format!("{}m", seconds / 60)
    } else {
        format!("{:.1}h", seconds as f64 / 3600.0)
    }
}

fn print_table(report: &[SourceStatus]) {
    let mut table = output::table(&[
        "source",
        "health",
        "last backup",
        "age",
        "size",
        "last verify",
        "problems",
    ]);
    for s in report {
        table.add_row(vec![
            s.source.clone(),
            if s.healthy { "ok" } else { "UNHEALTHY" }.to_string(),
            s.last_backup.as_ref().map_or("-".into(), |b| b.id.clone()),
            s.last_backup.as_ref().map_or("-".into(), |b| {
                format!(
                    "{} (max {})",
                    hours(b.age_seconds),
                    hours(s.max_age_seconds)
                )
            }),
            s.last_backup
                .as_ref()
                .map_or("-".into(), |b| output::size(b.raw_bytes)),
            s.last_verify.as_ref().map_or("never".into(), |v| {
                format!(
                    "{} {} ago",
                    if v.ok { "ok" } else { "FAILED" },
                    hours(v.age_seconds)
                )
            }),
            s.problems.join("; "),
        ]);
    }
    output::print(&table);
}
