//! Retention: which backups of a source to keep, as a pure function of the backups and `now`.
//!
//! [`KeepOptions`] is the per-source `retention = { ... }` table of the config file; its
//! [`apply`](KeepOptions::apply) takes the backups of **one source** ([`Candidate`]s, usually
//! built from their manifests) and the current time, and returns one [`Decision`] per backup:
//! keep or remove, with the [`Reason`]s for keeping. It reads no clock and touches no storage;
//! `lifeboat prune` prints the plan and carries it out. Modelled on restic/borg
//! (grandfather-father-son) and rustic_core's `KeepOptions::apply`.
//!
//! # Semantics
//!
//! - **Order.** Backups are ordered by `started_at` (the manifest's timestamp, never the object
//!   name), newest first; equal times are ordered by id, greater id first. The result comes in
//!   that order and does not depend on the order of the input. Candidates with the **same id**
//!   are one backup (held in several storages): it appears once in the result.
//! - **Buckets, in UTC.** hour = `YYYY-MM-DD HH`, day = the date, week = ISO year + ISO week
//!   (weeks start on Monday; 2024-12-30 is in week 1 of 2025), month = `YYYY-MM`, year = `YYYY`.
//!   A backup's local time zone plays no part: across a DST change, a source scheduled at 02:30
//!   Europe/Berlin runs at 01:30 or 00:30 UTC, and `keep_daily` keeps one backup per *UTC* day.
//! - **Period rules** (`keep_hourly`, `keep_daily`, `keep_weekly`, `keep_monthly`,
//!   `keep_yearly`), each with `n > 0`: walk the backups newest to oldest and keep one when its
//!   bucket differs from the last bucket this rule kept, until the rule has kept `n`. That is
//!   the newest backup of each of the last `n` distinct periods **that have backups** (as in
//!   restic): with `keep_daily = 7` and a day without backups, the rule reaches 8 days back.
//! - **`keep_last = n`** keeps the `n` newest backups.
//! - **`keep_within = d`** keeps every backup with `started_at >= now - d`, a
//!   [`HumanDuration`] (`"14d"`, `"36h"`, `"2w"`, `"1y6mo"`; `mo` = 30 days, `y` = 365 days;
//!   the bare `m` of earlier releases still means months here, with a deprecation warning).
//! - The rules are independent: a backup is kept when at least one rule keeps it, and carries
//!   every reason that applies, in the order `last, hourly, daily, weekly, monthly, yearly,
//!   within, future, newest`.
//!
//! # Guard rails
//!
//! - **Empty policy.** When every count is absent or zero and `keep_within` is absent or zero
//!   ([`KeepOptions::is_empty`]), every backup is kept with the single reason
//!   [`Reason::EmptyPolicy`]. A forgotten `retention` table never deletes anything.
//! - **The newest backup is never removed.** When no rule keeps the newest backup (e.g. it is
//!   older than `keep_within` and no count applies), it is kept with [`Reason::Newest`]. That
//!   reason is only added when it is what saves the backup, so the reasons always say *why*.
//! - **Backups dated in the future** (`started_at > now`, clock skew between hosts) are always
//!   kept and carry [`Reason::Future`] besides whatever else applies (under an empty policy,
//!   [`Reason::EmptyPolicy`] stays the only reason). Otherwise they are treated
//!   normally: they take part in the period rules (a backup dated 3 days ahead is the newest of
//!   its day and uses one `keep_daily` slot) and in `keep_last`, and `keep_within` counts them
//!   as within. So a future backup is never among the removed, and the newest-backup guard
//!   still holds (the newest backup is then the future one).
//!
//! # Example
//!
//! ```
//! use backup_core::retention::{Candidate, KeepOptions, Reason};
//! use backup_core::BackupId;
//! use time::macros::datetime;
//!
//! // One backup a day at 02:00 UTC, January 1st to 10th.
//! let backups: Vec<Candidate> = (1..=10u8)
//!     .map(|day| {
//!         let at = datetime!(2026-01-01 02:00 UTC).replace_day(day).expect("a valid day");
//!         Candidate::new(BackupId::new(at), at)
//!     })
//!     .collect();
//! let policy = KeepOptions { keep_last: Some(2), keep_daily: Some(3), ..KeepOptions::default() };
//!
//! let plan = policy.apply(&backups, datetime!(2026-01-10 12:00 UTC));
//! let kept: Vec<u8> = plan.iter().filter(|d| d.keep).map(|d| d.started_at.day()).collect();
//! assert_eq!(kept, [10, 9, 8]);
//! assert_eq!(plan[0].reasons, [Reason::Last, Reason::Daily]);
//! assert_eq!(plan[2].reasons, [Reason::Daily]);
//! assert!(plan[3..].iter().all(|d| !d.keep && d.reasons.is_empty()));
//!
//! // The config file's `retention = { ... }` table is this struct:
//! let policy: KeepOptions =
//!     serde_json::from_str(r#"{ "keep_daily": 7, "keep_within": "36h" }"#)?;
//! assert_eq!(policy.keep_within.map(|w| w.as_time()), Some(time::Duration::hours(36)));
//! # Ok::<(), serde_json::Error>(())
//! ```

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

use crate::{BackupId, Manifest};

use lifeboat_edge::HumanDuration;

/// A retention policy: the per-source `retention = { ... }` table of the config file.
///
/// Every field is optional; absent and zero mean "this rule keeps nothing". Unknown keys are
/// errors. Negative counts are rejected (restic's `-1` for "unlimited" is not supported; use
/// `keep_within` with a long duration instead). See the [module docs](self) for the semantics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeepOptions {
    /// Keep the `n` newest backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last `n` UTC hours that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest backup of each of the last `n` UTC days that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last `n` ISO weeks (UTC) that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last `n` UTC months that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest backup of each of the last `n` UTC years that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Keep every backup started within this duration before `now` (e.g. `"14d"`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lifeboat_edge::duration::legacy_months"
    )]
    pub keep_within: Option<HumanDuration>,
}

/// One backup as retention sees it: its id and when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The backup id.
    pub id: BackupId,
    /// When the backup started (the manifest's `started_at`): the only time retention uses.
    pub started_at: OffsetDateTime,
}

/// What retention decided for one backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The backup id.
    pub id: BackupId,
    /// When the backup started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Keep (`true`) or remove (`false`). Always `!reasons.is_empty()`.
    pub keep: bool,
    /// Why the backup is kept; empty when it is removed.
    pub reasons: Vec<Reason>,
}

/// Why a backup is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// One of the `keep_last` newest backups.
    Last,
    /// The newest backup of one of the last `keep_hourly` hours.
    Hourly,
    /// The newest backup of one of the last `keep_daily` days.
    Daily,
    /// The newest backup of one of the last `keep_weekly` ISO weeks.
    Weekly,
    /// The newest backup of one of the last `keep_monthly` months.
    Monthly,
    /// The newest backup of one of the last `keep_yearly` years.
    Yearly,
    /// Started within `keep_within` of now.
    Within,
    /// Dated after `now` (clock skew): always kept.
    Future,
    /// The newest backup, kept although no rule keeps it.
    Newest,
    /// The policy is empty, so everything is kept.
    EmptyPolicy,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Last => "last",
            Reason::Hourly => "hourly",
            Reason::Daily => "daily",
            Reason::Weekly => "weekly",
            Reason::Monthly => "monthly",
            Reason::Yearly => "yearly",
            Reason::Within => "within",
            Reason::Future => "dated in the future (always kept)",
            Reason::Newest => "newest (always kept)",
            Reason::EmptyPolicy => "no policy (keeps everything)",
        })
    }
}

impl Candidate {
    /// A candidate from its id and start time.
    pub fn new(id: BackupId, started_at: OffsetDateTime) -> Self {
        Self { id, started_at }
    }
}

impl From<&Manifest> for Candidate {
    fn from(manifest: &Manifest) -> Self {
        Self::new(manifest.id.clone(), manifest.started_at)
    }
}

/// A period bucket: comparable values only, the meaning depends on the rule.
type Bucket = (i32, u16, u8);

/// Which bucket a UTC time falls in, for one period rule.
type Bucketer = fn(OffsetDateTime) -> Bucket;

fn hour_bucket(t: OffsetDateTime) -> Bucket {
    (t.year(), t.ordinal(), t.hour())
}

fn day_bucket(t: OffsetDateTime) -> Bucket {
    (t.year(), t.ordinal(), 0)
}

fn week_bucket(t: OffsetDateTime) -> Bucket {
    let (iso_year, week, _) = t.to_iso_week_date();
    (iso_year, u16::from(week), 0)
}

fn month_bucket(t: OffsetDateTime) -> Bucket {
    (t.year(), u16::from(u8::from(t.month())), 0)
}

fn year_bucket(t: OffsetDateTime) -> Bucket {
    (t.year(), 0, 0)
}

impl KeepOptions {
    /// Whether the policy keeps nothing by itself: every count absent or zero and `keep_within`
    /// absent or zero. [`apply`](Self::apply) then keeps everything ([`Reason::EmptyPolicy`]).
    pub fn is_empty(&self) -> bool {
        let counts = [
            self.keep_last,
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ];
        counts.iter().all(|n| n.unwrap_or(0) == 0)
            && self
                .keep_within
                .is_none_or(|within| within == HumanDuration::ZERO)
    }

    /// Decides, for each backup of one source, whether to keep it and why.
    ///
    /// Returns one [`Decision`] per distinct id, newest first (by `started_at`, then id); the
    /// result does not depend on the order of `backups`. `now` is the current time, passed in
    /// so the function is pure. See the [module docs](self) for the rules and guard rails.
    pub fn apply(&self, backups: &[Candidate], now: OffsetDateTime) -> Vec<Decision> {
        let mut sorted: Vec<&Candidate> = backups.iter().collect();
        sorted.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        let mut seen = HashSet::new();
        sorted.retain(|c| seen.insert(&c.id));

        let mut decisions: Vec<Decision> = sorted
            .into_iter()
            .map(|c| Decision {
                id: c.id.clone(),
                started_at: c.started_at,
                keep: false,
                reasons: Vec::new(),
            })
            .collect();

        if self.is_empty() {
            for d in &mut decisions {
                d.reasons.push(Reason::EmptyPolicy);
                d.keep = true;
            }
            return decisions;
        }

        if let Some(n) = self.keep_last {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            for d in decisions.iter_mut().take(n) {
                d.reasons.push(Reason::Last);
            }
        }

        let period_rules: [(Option<u32>, Reason, Bucketer); 5] = [
            (self.keep_hourly, Reason::Hourly, hour_bucket),
            (self.keep_daily, Reason::Daily, day_bucket),
            (self.keep_weekly, Reason::Weekly, week_bucket),
            (self.keep_monthly, Reason::Monthly, month_bucket),
            (self.keep_yearly, Reason::Yearly, year_bucket),
        ];
        for (count, reason, bucket_of) in period_rules {
            let n = count.unwrap_or(0);
            let mut kept = 0u32;
            let mut last_kept: Option<Bucket> = None;
            for d in &mut decisions {
                if kept >= n {
                    break;
                }
                let bucket = bucket_of(d.started_at.to_offset(UtcOffset::UTC));
                if last_kept != Some(bucket) {
                    d.reasons.push(reason);
                    last_kept = Some(bucket);
                    kept += 1;
                }
            }
        }

        if let Some(within) = self.keep_within.filter(|w| *w != HumanDuration::ZERO) {
            // An unrepresentable cutoff (far before year -9999) means "everything is within".
            let cutoff = now.checked_sub(within.as_time());
            for d in &mut decisions {
                if cutoff.is_none_or(|cutoff| d.started_at >= cutoff) {
                    d.reasons.push(Reason::Within);
                }
            }
        }

        for d in &mut decisions {
            if d.started_at > now {
                d.reasons.push(Reason::Future);
            }
        }

        if let Some(newest) = decisions.first_mut() {
            if newest.reasons.is_empty() {
                newest.reasons.push(Reason::Newest);
            }
        }

        for d in &mut decisions {
            d.keep = !d.reasons.is_empty();
        }
        decisions
    }
}
