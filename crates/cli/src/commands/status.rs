//! `lifeboat status [--json]`: is every source backed up recently, at a plausible size, and
//! was its last restore drill good? Exit 4 when not, so any monitoring system can run it.

use std::str::FromStr;

use backup_core::catalog::catalog;
use backup_core::verify_record::latest_verify_record;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::find_source;
use crate::config::{Config, SourceConfig};
use crate::exit::{CliError, Exit};
use crate::{output, storage};

/// Without a schedule or `max_age`, a source is stale after this long.
const DEFAULT_MAX_AGE: Duration = Duration::hours(25);
/// With a schedule, a source is stale after this many intervals.
const SCHEDULE_FACTOR: f64 = 1.5;
/// How many earlier backups the size of the latest is compared with.
const SIZE_WINDOW: usize = 7;
/// The fewest earlier backups that make a median worth comparing with.
const SIZE_MIN_HISTORY: usize = 3;
/// How far from the median (as a fraction) the latest size may be.
const SIZE_TOLERANCE: f64 = 0.5;

/// One source in `status --json`.
#[derive(Debug, Serialize)]
pub struct SourceStatus {
    /// Source name.
    pub source: String,
    /// Whether nothing below is wrong.
    pub healthy: bool,
    /// What is wrong, one sentence each.
    pub problems: Vec<String>,
    /// The newest backup, if any.
    pub last_backup: Option<LastBackup>,
    /// The age beyond which the source is stale, in seconds.
    pub max_age_seconds: i64,
    /// Median raw size of the backups before the newest (up to 7), when there are 3 or more.
    pub size_median_bytes: Option<u64>,
    /// The most recent verify, if any.
    pub last_verify: Option<LastVerify>,
}

/// The newest backup of a source.
#[derive(Debug, Serialize)]
pub struct LastBackup {
    /// Its id.
    pub id: String,
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// Seconds since then.
    pub age_seconds: i64,
    /// Raw bytes.
    pub raw_bytes: u64,
    /// Stored bytes.
    pub stored_bytes: u64,
}

/// The most recent verify of a source.
#[derive(Debug, Serialize)]
pub struct LastVerify {
    /// The backup checked.
    pub id: String,
    /// The storage whose copy was checked.
    pub storage: String,
    /// When (RFC 3339).
    pub verified_at: String,
    /// Seconds since then.
    pub age_seconds: i64,
    /// Whether it passed.
    pub ok: bool,
    /// What it found.
    pub summary: String,
}

/// Reports on one source or all; exit 4 when anything is unhealthy.
pub async fn run(config: &Config, name: Option<&str>, json: bool) -> Result<Exit, CliError> {
    let sources = match name {
        Some(name) => vec![find_source(config, name)?],
        None => config.sources.iter().collect(),
    };
    let now = OffsetDateTime::now_utc();
    let mut report = Vec::new();
    for source in sources {
        report.push(status_of(config, source, now).await?);
    }
    print(&report, json)?;
    Ok(if report.iter().all(|s| s.healthy) {
        Exit::Success
    } else {
        Exit::Unhealthy
    })
}

/// The age beyond which `source` is stale: `max_age`, else 1.5 × its schedule's interval, else
/// 25 hours.
fn max_age(source: &SourceConfig, now: OffsetDateTime) -> Duration {
    if let Some(max_age) = &source.max_age {
        return max_age.as_time();
    }
    source
        .schedule
        .as_deref()
        .and_then(|pattern| schedule_interval(pattern, now))
        .map(|interval| interval * SCHEDULE_FACTOR)
        .unwrap_or(DEFAULT_MAX_AGE)
}

/// How many upcoming ticks are looked at to find a schedule's longest gap.
const SCHEDULE_TICKS: usize = 64;

/// The longest gap between the schedule's next ticks (at most 64 ticks, over at most 8
/// days), so an uneven schedule (weekdays only, 02:00 and 03:00) is judged by its longest
/// quiet time, not by whichever gap comes next.
fn schedule_interval(pattern: &str, now: OffsetDateTime) -> Option<Duration> {
    let cron = croner::Cron::from_str(pattern).ok()?;
    let start = chrono::DateTime::from_timestamp(now.unix_timestamp(), 0)?;
    let horizon = start + chrono::Duration::days(8);
    let mut previous = cron.find_next_occurrence(&start, false).ok()?;
    let mut longest = chrono::Duration::zero();
    for _ in 0..SCHEDULE_TICKS {
        let Ok(next) = cron.find_next_occurrence(&previous, false) else {
            break;
        };
        longest = longest.max(next - previous);
        if next > horizon {
            break;
        }
        previous = next;
    }
    (longest > chrono::Duration::zero()).then(|| Duration::seconds(longest.num_seconds()))
}

fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => values.get(mid).copied(),
        _ => Some((values[mid - 1] + values[mid]) / 2),
    }
}

async fn status_of(
    config: &Config,
    source: &SourceConfig,
    now: OffsetDateTime,
) -> Result<SourceStatus, CliError> {
    let sinks = storage::for_source(config, source, None)?;
    let found = catalog(&sinks, &source.name).await;
    let mut problems: Vec<String> = found
        .errors
        .iter()
        .map(|e| format!("the catalog is incomplete: {}", crate::exit::describe(e)))
        .collect();
    let max_age = max_age(source, now);
    let last_backup = found.entries.first().map(|entry| {
        let m = &entry.manifest;
        LastBackup {
            id: m.id.to_string(),
            finished_at: m.finished_at.format(&Rfc3339).unwrap_or_default(),
            age_seconds: (now - m.finished_at).whole_seconds(),
            raw_bytes: m.artifact.raw_bytes,
            stored_bytes: m.artifact.stored_bytes,
        }
    });
    match &last_backup {
        None => problems.push("no backup found".to_string()),
        Some(last) if last.age_seconds > max_age.whole_seconds() => problems.push(format!(
            "the newest backup is {}h old, more than the {}h allowed",
            last.age_seconds / 3600,
            max_age.whole_hours()
        )),
        Some(_) => {}
    }
    let history: Vec<u64> = found
        .entries
        .iter()
        .skip(1)
        .take(SIZE_WINDOW)
        .map(|e| e.manifest.artifact.raw_bytes)
        .collect();
    let size_median = (history.len() >= SIZE_MIN_HISTORY)
        .then(|| median(history))
        .flatten();
    if let (Some(median), Some(last)) = (size_median, &last_backup) {
        let low = median as f64 * (1.0 - SIZE_TOLERANCE);
        let high = median as f64 * (1.0 + SIZE_TOLERANCE);
        let size = last.raw_bytes as f64;
        if size < low || size > high {
            problems.push(format!(
                "the newest backup is {} raw, outside ±{:.0}% of the median {} of the ones before",
                output::size(last.raw_bytes),
                SIZE_TOLERANCE * 100.0,
                output::size(median)
            ));
        }
    }
    let last_verify = latest_verify_record(&sinks, &source.name)
        .await
        .map(|record| LastVerify {
            id: record.id.to_string(),
            storage: record.storage,
            verified_at: record.verified_at.format(&Rfc3339).unwrap_or_default(),
            age_seconds: (now - record.verified_at).whole_seconds(),
            ok: record.ok,
            summary: record.summary,
        });
    if let Some(verify) = last_verify.as_ref().filter(|v| !v.ok) {
        problems.push(format!(
            "the last verify ({} in {}) failed: {}",
            verify.id, verify.storage, verify.summary
        ));
    }
    Ok(SourceStatus {
        source: source.name.clone(),
        healthy: problems.is_empty(),
        problems,
        last_backup,
        max_age_seconds: max_age.whole_seconds(),
        size_median_bytes: size_median,
        last_verify,
    })
}

fn hours(seconds: i64) -> String {
    if seconds < 3600 {
        format!("{}m", seconds / 60)
    } else {
        format!("{:.1}h", seconds as f64 / 3600.0)
    }
}

fn print(report: &[SourceStatus], json: bool) -> Result<(), CliError> {
    if json {
        let text = serde_json::to_string_pretty(report)
            .map_err(|e| CliError::failure(format!("cannot encode JSON: {e}")))?;
        output::print(&text);
        return Ok(());
    }
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
            if s.healthy {
                "ok".into()
            } else {
                "UNHEALTHY".into()
            },
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_longest_gap_of_an_uneven_schedule_counts() {
        // Monday 01:00: the next gap is a day, the longest (Friday to Monday) three.
        let monday = datetime!(2026-11-23 01:00 UTC);
        assert_eq!(
            schedule_interval("0 2 * * 1-5", monday),
            Some(Duration::hours(72))
        );
        assert_eq!(
            schedule_interval("0 2,3 * * *", monday),
            Some(Duration::hours(23))
        );
        assert_eq!(
            schedule_interval("0 */2 * * *", monday),
            Some(Duration::hours(2))
        );
    }
}
