//! Status: is every source backed up recently, at a plausible size, and was its last verify
//! good? The rules, and the typed report `lifeboat status [--json]` renders.

use backup_core::catalog::catalog;
use backup_core::verify_record::latest_verify_record;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::config::SourceConfig;
use crate::{describe, storage, Lifeboat, OpError};

/// Without a schedule or `max_age`, a source is stale after this long.
const DEFAULT_MAX_AGE: Duration = Duration::hours(25);
/// With a schedule, a source is stale after this many of its longest gaps.
const SCHEDULE_FACTOR: f64 = 1.5;
/// How many earlier backups the size of the latest is compared with.
const SIZE_WINDOW: usize = 7;
/// The fewest earlier backups that make a median worth comparing with.
const SIZE_MIN_HISTORY: usize = 3;
/// How far from the median (as a fraction) the latest size may be.
const SIZE_TOLERANCE: f64 = 0.5;

/// One source's health (`status --json` prints a list of these; README, "`status --json`").
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

impl Lifeboat {
    /// The health of one source or all, as of `now`.
    pub async fn status(
        &self,
        source: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Vec<SourceStatus>, OpError> {
        let mut report = Vec::new();
        for source in self.select_one_or_all(source)? {
            report.push(self.status_of(source, now).await?);
        }
        Ok(report)
    }

    async fn status_of(
        &self,
        source: &SourceConfig,
        now: OffsetDateTime,
    ) -> Result<SourceStatus, OpError> {
        let sinks = storage::for_source(self.config(), source, None)?;
        let found = catalog(&sinks, &source.name).await;
        let mut problems: Vec<String> = found
            .errors
            .iter()
            .map(|e| format!("the catalog is incomplete: {}", describe(e)))
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
            if let Some(problem) = size_problem(last.raw_bytes, median) {
                problems.push(problem);
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
}

/// The age beyond which `source` is stale: `max_age`, else 1.5 × its schedule's longest gap,
/// else 25 hours.
fn max_age(source: &SourceConfig, now: OffsetDateTime) -> Duration {
    if let Some(max_age) = &source.max_age {
        return max_age.as_time();
    }
    source
        .schedule
        .as_ref()
        .and_then(|schedule| schedule.longest_gap(now))
        .map(|gap| gap * SCHEDULE_FACTOR)
        .unwrap_or(DEFAULT_MAX_AGE)
}

/// A problem when `size` is more than 50 % away from `median`.
fn size_problem(size: u64, median: u64) -> Option<String> {
    let low = median as f64 * (1.0 - SIZE_TOLERANCE);
    let high = median as f64 * (1.0 + SIZE_TOLERANCE);
    let value = size as f64;
    (value < low || value > high).then(|| {
        format!(
            "the newest backup is {} raw, outside ±{:.0}% of the median {} of the ones before",
            human_size(size),
            SIZE_TOLERANCE * 100.0,
            human_size(median)
        )
    })
}

/// `12.3 MiB`, as the CLI's tables show sizes.
fn human_size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_far_from_the_median_are_problems() {
        assert_eq!(median(vec![3, 1, 2]), Some(2));
        assert_eq!(median(vec![4, 1, 2, 3]), Some(2));
        assert!(size_problem(100, 100).is_none());
        assert!(size_problem(149, 100).is_none());
        assert!(size_problem(151, 100).is_some());
        assert!(size_problem(49, 100).unwrap().contains("outside ±50%"));
    }
}
