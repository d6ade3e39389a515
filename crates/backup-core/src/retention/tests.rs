#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use time::macros::{datetime, offset};
use time::{Duration, OffsetDateTime, UtcOffset};

use super::*;

/// A deterministic id for a backup started at `at`; `n` makes ids of equal times distinct.
fn id_at(at: OffsetDateTime, n: u32) -> BackupId {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{n:06x}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
    .parse()
    .unwrap()
}

fn cand(at: OffsetDateTime) -> Candidate {
    Candidate::new(id_at(at, 0), at)
}

fn kept_times(plan: &[Decision]) -> Vec<OffsetDateTime> {
    plan.iter()
        .filter(|d| d.keep)
        .map(|d| d.started_at)
        .collect()
}

fn reasons_at(plan: &[Decision], at: OffsetDateTime) -> Vec<Reason> {
    plan.iter()
        .find(|d| d.started_at == at)
        .map(|d| d.reasons.clone())
        .unwrap()
}

fn sorted_desc(mut times: Vec<OffsetDateTime>) -> Vec<OffsetDateTime> {
    times.sort_by(|a, b| b.cmp(a));
    times
}

/// Daily backups at 02:00 UTC from 2024-06-16 to 2025-06-15 (365 days), plus hourly backups
/// at :30 in the last 48 hours (2025-06-13 12:30 .. 2025-06-15 11:30). "Now" is
/// 2025-06-15 12:00 UTC, a Sunday (end of ISO week 2025-W24).
fn year_of_backups() -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut at = datetime!(2024-06-16 02:00 UTC);
    while at <= datetime!(2025-06-15 02:00 UTC) {
        out.push(cand(at));
        at += Duration::days(1);
    }
    assert_eq!(out.len(), 365);
    let mut at = datetime!(2025-06-13 12:30 UTC);
    while at <= datetime!(2025-06-15 11:30 UTC) {
        out.push(cand(at));
        at += Duration::hours(1);
    }
    assert_eq!(out.len(), 365 + 48);
    // Feed them in a scrambled order: the result must not care.
    out.reverse();
    out.swap(3, 200);
    out
}

const YEAR_NOW: OffsetDateTime = datetime!(2025-06-15 12:00 UTC);

#[test]
fn year_last_daily_weekly_monthly() {
    let policy = KeepOptions {
        keep_last: Some(3),
        keep_daily: Some(7),
        keep_weekly: Some(4),
        keep_monthly: Some(12),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&year_of_backups(), YEAR_NOW);
    assert_eq!(plan.len(), 365 + 48);

    let expected = sorted_desc(vec![
        // keep_last = 3
        datetime!(2025-06-15 11:30 UTC),
        datetime!(2025-06-15 10:30 UTC),
        datetime!(2025-06-15 09:30 UTC),
        // keep_daily = 7: newest of 15th, 14th, 13th are hourly ones; then the 02:00 dailies
        datetime!(2025-06-14 23:30 UTC),
        datetime!(2025-06-13 23:30 UTC),
        datetime!(2025-06-12 02:00 UTC),
        datetime!(2025-06-11 02:00 UTC),
        datetime!(2025-06-10 02:00 UTC),
        datetime!(2025-06-09 02:00 UTC),
        // keep_weekly = 4: W24 is the 15th 11:30; W23 ends Sun 06-08, W22 Sun 06-01, W21 Sun 05-25
        datetime!(2025-06-08 02:00 UTC),
        datetime!(2025-06-01 02:00 UTC),
        datetime!(2025-05-25 02:00 UTC),
        // keep_monthly = 12: June 2025 is the 15th 11:30; then the last day of each month
        datetime!(2025-05-31 02:00 UTC),
        datetime!(2025-04-30 02:00 UTC),
        datetime!(2025-03-31 02:00 UTC),
        datetime!(2025-02-28 02:00 UTC),
        datetime!(2025-01-31 02:00 UTC),
        datetime!(2024-12-31 02:00 UTC),
        datetime!(2024-11-30 02:00 UTC),
        datetime!(2024-10-31 02:00 UTC),
        datetime!(2024-09-30 02:00 UTC),
        datetime!(2024-08-31 02:00 UTC),
        datetime!(2024-07-31 02:00 UTC),
    ]);
    assert_eq!(kept_times(&plan), expected);

    use Reason::*;
    assert_eq!(
        reasons_at(&plan, datetime!(2025-06-15 11:30 UTC)),
        [Last, Daily, Weekly, Monthly]
    );
    assert_eq!(reasons_at(&plan, datetime!(2025-06-15 10:30 UTC)), [Last]);
    assert_eq!(reasons_at(&plan, datetime!(2025-06-14 23:30 UTC)), [Daily]);
    assert_eq!(reasons_at(&plan, datetime!(2025-06-09 02:00 UTC)), [Daily]);
    assert_eq!(reasons_at(&plan, datetime!(2025-06-08 02:00 UTC)), [Weekly]);
    assert_eq!(
        reasons_at(&plan, datetime!(2025-05-31 02:00 UTC)),
        [Monthly]
    );
    assert_eq!(reasons_at(&plan, datetime!(2024-06-30 02:00 UTC)), []);
    for d in &plan {
        assert_eq!(d.keep, !d.reasons.is_empty(), "{d:?}");
        assert!(!d.reasons.contains(&Newest), "{d:?}");
    }
}

#[test]
fn year_hourly_yearly_within() {
    let policy = KeepOptions {
        keep_hourly: Some(24),
        keep_yearly: Some(3),
        keep_within: Some("36h".parse().unwrap()),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&year_of_backups(), YEAR_NOW);

    // Within 36h of 2025-06-15 12:00 means from 2025-06-14 00:00: the hourly backups 14th 00:30
    // to 15th 11:30 (36 of them), plus the 02:00 dailies of the 14th and 15th. Yearly: 2025 is the newest; 2024's newest is 12-31; there
    // are only two years with backups.
    let mut expected = Vec::new();
    let mut at = datetime!(2025-06-14 00:30 UTC);
    while at <= datetime!(2025-06-15 11:30 UTC) {
        expected.push(at);
        at += Duration::hours(1);
    }
    assert_eq!(expected.len(), 36);
    expected.push(datetime!(2025-06-14 02:00 UTC));
    expected.push(datetime!(2025-06-15 02:00 UTC));
    expected.push(datetime!(2024-12-31 02:00 UTC));
    assert_eq!(kept_times(&plan), sorted_desc(expected));

    use Reason::*;
    // keep_hourly = 24 covers the hours 15th 11:00 down to 14th 12:00; the 02:00 daily shares
    // its hour with 02:30, which is newer, so only 02:30 is "hourly".
    assert_eq!(
        reasons_at(&plan, datetime!(2025-06-15 11:30 UTC)),
        [Hourly, Yearly, Within]
    );
    assert_eq!(
        reasons_at(&plan, datetime!(2025-06-15 02:30 UTC)),
        [Hourly, Within]
    );
    assert_eq!(reasons_at(&plan, datetime!(2025-06-15 02:00 UTC)), [Within]);
    assert_eq!(
        reasons_at(&plan, datetime!(2025-06-14 12:30 UTC)),
        [Hourly, Within]
    );
    assert_eq!(reasons_at(&plan, datetime!(2025-06-14 11:30 UTC)), [Within]);
    assert_eq!(reasons_at(&plan, datetime!(2024-12-31 02:00 UTC)), [Yearly]);
    assert_eq!(reasons_at(&plan, datetime!(2025-06-13 23:30 UTC)), []);
}

#[test]
fn weekly_uses_iso_years() {
    // 2024-12-29 is a Sunday (2024-W52); 2024-12-30 (Monday) starts 2025-W01; 2025-01-06
    // starts 2025-W02.
    let backups: Vec<Candidate> = (0..11)
        .map(|i| cand(datetime!(2024-12-27 02:00 UTC) + Duration::days(i)))
        .collect();
    let policy = KeepOptions {
        keep_weekly: Some(3),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&backups, datetime!(2025-01-07 00:00 UTC));
    assert_eq!(
        kept_times(&plan),
        [
            datetime!(2025-01-06 02:00 UTC),
            datetime!(2025-01-05 02:00 UTC),
            datetime!(2024-12-29 02:00 UTC),
        ]
    );

    // keep_yearly goes by calendar year, not ISO year.
    let policy = KeepOptions {
        keep_yearly: Some(2),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&backups, datetime!(2025-01-07 00:00 UTC));
    assert_eq!(
        kept_times(&plan),
        [
            datetime!(2025-01-06 02:00 UTC),
            datetime!(2024-12-31 02:00 UTC),
        ]
    );
}

/// 02:30 Europe/Berlin as a UTC instant: CET is UTC+1, CEST (from the last Sunday of March,
/// 02:00 CET, to the last Sunday of October, 03:00 CEST) is UTC+2.
fn berlin_0230(date: time::Date, summer: bool) -> OffsetDateTime {
    let offset = if summer { offset!(+2) } else { offset!(+1) };
    date.with_hms(2, 30, 0)
        .unwrap()
        .assume_offset(offset)
        .to_offset(UtcOffset::UTC)
}

#[test]
fn dst_spring_forward_buckets_are_utc() {
    // 2025-03-30: 02:00 CET jumps to 03:00 CEST, so 02:30 local does not exist and the
    // scheduler skips that day. Before: 01:30 UTC; after: 00:30 UTC.
    let mut backups = Vec::new();
    for day in 25..=29u8 {
        backups.push(cand(berlin_0230(
            time::Date::from_calendar_date(2025, time::Month::March, day).unwrap(),
            false,
        )));
    }
    backups.push(cand(berlin_0230(
        time::Date::from_calendar_date(2025, time::Month::March, 31).unwrap(),
        true,
    )));
    for day in 1..=3u8 {
        backups.push(cand(berlin_0230(
            time::Date::from_calendar_date(2025, time::Month::April, day).unwrap(),
            true,
        )));
    }
    assert_eq!(backups[0].started_at, datetime!(2025-03-25 01:30 UTC));
    assert_eq!(backups[5].started_at, datetime!(2025-03-31 00:30 UTC));

    let policy = KeepOptions {
        keep_daily: Some(7),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&backups, datetime!(2025-04-03 12:00 UTC));
    // Seven UTC days that have backups: the 30th has none, so the rule reaches the 27th.
    assert_eq!(
        kept_times(&plan),
        [
            datetime!(2025-04-03 00:30 UTC),
            datetime!(2025-04-02 00:30 UTC),
            datetime!(2025-04-01 00:30 UTC),
            datetime!(2025-03-31 00:30 UTC),
            datetime!(2025-03-29 01:30 UTC),
            datetime!(2025-03-28 01:30 UTC),
            datetime!(2025-03-27 01:30 UTC),
        ]
    );
}

#[test]
fn dst_fall_back_two_backups_one_utc_day() {
    // 2025-10-26: 03:00 CEST falls back to 02:00 CET, so 02:30 local happens twice: at 00:30
    // UTC (CEST) and 01:30 UTC (CET). Both are in the same UTC day: keep_daily keeps the later.
    let mut backups = Vec::new();
    for day in 22..=26u8 {
        let date = time::Date::from_calendar_date(2025, time::Month::October, day).unwrap();
        backups.push(cand(berlin_0230(date, true)));
    }
    for day in 26..=29u8 {
        let date = time::Date::from_calendar_date(2025, time::Month::October, day).unwrap();
        backups.push(cand(berlin_0230(date, false)));
    }
    assert_eq!(backups[4].started_at, datetime!(2025-10-26 00:30 UTC));
    assert_eq!(backups[5].started_at, datetime!(2025-10-26 01:30 UTC));

    let policy = KeepOptions {
        keep_daily: Some(5),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&backups, datetime!(2025-10-29 12:00 UTC));
    assert_eq!(
        kept_times(&plan),
        [
            datetime!(2025-10-29 01:30 UTC),
            datetime!(2025-10-28 01:30 UTC),
            datetime!(2025-10-27 01:30 UTC),
            datetime!(2025-10-26 01:30 UTC),
            datetime!(2025-10-25 00:30 UTC),
        ]
    );
    assert_eq!(reasons_at(&plan, datetime!(2025-10-26 00:30 UTC)), []);

    // keep_hourly sees two different UTC hours on the 26th.
    let policy = KeepOptions {
        keep_hourly: Some(5),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&backups, datetime!(2025-10-29 12:00 UTC));
    assert_eq!(plan.iter().filter(|d| d.keep).count(), 5);
    assert!(reasons_at(&plan, datetime!(2025-10-26 00:30 UTC)).contains(&Reason::Hourly));
}

#[test]
fn non_utc_offsets_are_bucketed_in_utc() {
    // 2025-01-02 00:30 +02:00 is 2025-01-01 22:30 UTC: same UTC day as the 23:00 UTC backup.
    let a = Candidate::new(
        id_at(datetime!(2025-01-01 22:30 UTC), 1),
        datetime!(2025-01-02 00:30 +02:00),
    );
    let b = cand(datetime!(2025-01-01 23:00 UTC));
    let policy = KeepOptions {
        keep_daily: Some(2),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&[a, b], datetime!(2025-01-03 00:00 UTC));
    assert_eq!(kept_times(&plan), [datetime!(2025-01-01 23:00 UTC)]);
}

#[test]
fn clock_skew_future_backup_is_kept() {
    let now = datetime!(2025-06-15 12:00 UTC);
    let mut backups: Vec<Candidate> = (0..10)
        .map(|i| cand(datetime!(2025-06-15 02:00 UTC) - Duration::days(i)))
        .collect();
    let future = datetime!(2025-06-18 02:00 UTC);
    backups.push(cand(future));

    // keep_last = 1: the future backup is the newest; it takes the slot.
    let policy = KeepOptions {
        keep_last: Some(1),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&backups, now);
    assert_eq!(plan[0].started_at, future);
    assert_eq!(plan[0].reasons, [Reason::Last, Reason::Future]);
    assert_eq!(kept_times(&plan), [future]);

    // keep_within only reaches back in time: the future backup is within; the newest guard
    // holds (the future backup is the newest and is kept).
    let policy = KeepOptions {
        keep_within: Some("1d".parse().unwrap()),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&backups, now);
    assert_eq!(plan[0].reasons, [Reason::Within, Reason::Future]);
    assert_eq!(kept_times(&plan), [future, datetime!(2025-06-15 02:00 UTC)]);

    // Two future backups, a rule that keeps neither: both kept as Future.
    backups.push(cand(datetime!(2025-06-17 02:00 UTC)));
    let policy = KeepOptions {
        keep_monthly: Some(1),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&backups, now);
    assert_eq!(plan[0].reasons, [Reason::Monthly, Reason::Future]);
    assert_eq!(plan[1].reasons, [Reason::Future]);
    assert_eq!(plan.iter().filter(|d| d.keep).count(), 2);
}

#[test]
fn newest_guard() {
    let now = datetime!(2025-06-15 12:00 UTC);
    let backups: Vec<Candidate> = (0..5)
        .map(|i| cand(datetime!(2025-05-01 02:00 UTC) - Duration::days(i)))
        .collect();
    let policy = KeepOptions {
        keep_within: Some("7d".parse().unwrap()),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&backups, now);
    assert_eq!(kept_times(&plan), [datetime!(2025-05-01 02:00 UTC)]);
    assert_eq!(plan[0].reasons, [Reason::Newest]);
    assert!(plan[1..].iter().all(|d| !d.keep));

    assert!(policy.apply(&[], now).is_empty());
}

#[test]
fn empty_policies_keep_everything() {
    let now = datetime!(2025-06-15 12:00 UTC);
    let backups = year_of_backups();
    let zero = KeepOptions {
        keep_last: Some(0),
        keep_daily: Some(0),
        keep_within: Some("0d".parse().unwrap()),
        ..KeepOptions::default()
    };
    for policy in [KeepOptions::default(), zero] {
        assert!(policy.is_empty());
        let plan = policy.apply(&backups, now);
        assert_eq!(plan.len(), backups.len());
        assert!(plan
            .iter()
            .all(|d| d.keep && d.reasons == [Reason::EmptyPolicy]));
    }
    assert!(!KeepOptions {
        keep_yearly: Some(1),
        ..KeepOptions::default()
    }
    .is_empty());
}

#[test]
fn same_time_ordered_by_id_and_same_id_once() {
    let at = datetime!(2025-06-15 02:00 UTC);
    let a = Candidate::new(id_at(at, 1), at);
    let b = Candidate::new(id_at(at, 2), at);
    let policy = KeepOptions {
        keep_last: Some(1),
        ..KeepOptions::default()
    };
    for input in [
        vec![a.clone(), b.clone()],
        vec![b.clone(), a.clone(), b.clone()],
    ] {
        let plan = policy.apply(&input, at);
        assert_eq!(plan.len(), 2, "the same id twice is one backup");
        assert_eq!(plan[0].id, b.id);
        assert!(plan[0].keep);
        assert_eq!(plan[1].id, a.id);
        assert!(!plan[1].keep);
    }
}

#[test]
fn candidate_from_manifest_uses_started_at_not_the_id() {
    let json = serde_json::json!({
        "format": crate::MANIFEST_FORMAT,
        "id": "20250101T000000Z-abcdef",
        "source": { "name": "orders", "kind": "postgres" },
        "started_at": "2025-06-01T02:00:00Z",
        "finished_at": "2025-06-01T02:01:00Z",
        "duration_ms": 60000,
        "host": "h",
        "tool_version": "lifeboat 0.1.0",
        "dump_format": "pg_dump-custom",
        "artifact": { "key": "k", "raw_bytes": 1, "stored_bytes": 1, "raw_sha256": "00", "stored_sha256": "00" },
        "transforms": [],
    });
    let manifest: Manifest = serde_json::from_value(json).unwrap();
    let c = Candidate::from(&manifest);
    assert_eq!(c.started_at, datetime!(2025-06-01 02:00 UTC));
    assert_eq!(c.id.as_str(), "20250101T000000Z-abcdef");
}

#[test]
fn keep_within_syntax() {
    // As written in a config's `retention` table: the syntax of `HumanDuration`, where a
    // bare `m` still means months (30 days) for this release.
    #[derive(serde::Deserialize)]
    struct Table {
        retention: KeepOptions,
    }
    let within = |text: &str| {
        toml::from_str::<Table>(&format!("retention = {{ keep_within = \"{text}\" }}"))
            .map(|t| t.retention.keep_within.unwrap())
    };
    let ok = [
        ("14d", Duration::days(14), "2w"),
        ("36h", Duration::hours(36), "1d12h"),
        ("2w", Duration::days(14), "2w"),
        ("1m", Duration::days(30), "1mo"),
        ("1mo", Duration::days(30), "1mo"),
        ("1y", Duration::days(365), "1y"),
        ("1y6m", Duration::days(365 + 180), "1y6mo"),
        (" 1w 3d  12h ", Duration::hours(10 * 24 + 12), "1w3d12h"),
        ("1d1d", Duration::days(2), "2d"),
        ("0d", Duration::ZERO, "0s"),
    ];
    for (input, duration, canonical) in ok {
        let parsed = within(input).unwrap();
        assert_eq!(parsed.as_time(), duration, "{input}");
        assert_eq!(parsed.to_string(), canonical, "{input}");
        assert_eq!(within(canonical).unwrap(), parsed);
    }
    for bad in [
        "",
        " ",
        "d",
        "14",
        "14x",
        "14D",
        "1.5d",
        "-1d",
        "14 d",
        "3 days",
        "99999999999d",
    ] {
        let err = within(bad).unwrap_err();
        assert!(
            err.to_string().contains("is not a duration"),
            "{bad}: {err}"
        );
    }
    let max = HumanDuration::from_secs(u64::MAX);
    assert!(max.as_time() > Duration::ZERO);
    // A cutoff before the representable range keeps everything as "within".
    let policy = KeepOptions {
        keep_within: Some(max),
        ..KeepOptions::default()
    };
    let plan = policy.apply(&year_of_backups(), YEAR_NOW);
    assert!(plan.iter().all(|d| d.reasons == [Reason::Within]));
}

#[test]
fn config_table_serde() {
    let toml_text = r#"
        retention = { keep_last = 3, keep_daily = 7, keep_weekly = 4, keep_monthly = 12, keep_within = "2w" }
    "#;
    #[derive(serde::Deserialize)]
    struct Source {
        retention: KeepOptions,
    }
    let source: Source = toml::from_str(toml_text).unwrap();
    assert_eq!(
        source.retention,
        KeepOptions {
            keep_last: Some(3),
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_monthly: Some(12),
            keep_within: Some(HumanDuration::from_days(14)),
            ..KeepOptions::default()
        }
    );

    let unknown = toml::from_str::<Source>("retention = { keep_dayly = 7 }");
    let err = unknown.err().unwrap().to_string();
    assert!(err.contains("keep_dayly"), "{err}");
    assert!(toml::from_str::<Source>("retention = { keep_daily = -1 }").is_err());
    let bad_within = toml::from_str::<Source>(r#"retention = { keep_within = "2 weeks" }"#);
    assert!(bad_within.err().unwrap().to_string().contains("2 weeks"));

    let json = serde_json::to_value(&source.retention).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "keep_last": 3, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12,
            "keep_within": "2w",
        })
    );
    let back: KeepOptions = serde_json::from_value(json).unwrap();
    assert_eq!(back, source.retention);
    assert_eq!(
        serde_json::to_value(KeepOptions::default()).unwrap(),
        serde_json::json!({})
    );
}

#[test]
fn reason_display_and_decision_json() {
    let texts: Vec<String> = [
        Reason::Last,
        Reason::Hourly,
        Reason::Daily,
        Reason::Weekly,
        Reason::Monthly,
        Reason::Yearly,
        Reason::Within,
        Reason::Future,
        Reason::Newest,
        Reason::EmptyPolicy,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        texts,
        [
            "last",
            "hourly",
            "daily",
            "weekly",
            "monthly",
            "yearly",
            "within",
            "dated in the future (always kept)",
            "newest (always kept)",
            "no policy (keeps everything)",
        ]
    );
    let at = datetime!(2025-06-15 02:00 UTC);
    let decision = Decision {
        id: id_at(at, 0),
        started_at: at,
        keep: true,
        reasons: vec![Reason::Last, Reason::EmptyPolicy],
    };
    assert_eq!(
        serde_json::to_value(&decision).unwrap(),
        serde_json::json!({
            "id": "20250615T020000Z-000000",
            "started_at": "2025-06-15T02:00:00Z",
            "keep": true,
            "reasons": ["last", "empty_policy"],
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const BASE: OffsetDateTime = datetime!(2024-01-01 00:00 UTC);
/// About two years, in minutes.
const SPAN_MINUTES: i64 = 2 * 366 * 24 * 60;

/// Backups at random minutes over ~2 years; times repeat often (a coarse pool), ids never.
fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
    let time = prop_oneof![
        // anywhere in two years
        0..SPAN_MINUTES,
        // a small pool, so equal times and same-bucket backups are common
        (0..40i64).prop_map(|i| SPAN_MINUTES - i * 97),
    ];
    proptest::collection::vec(time, 0..60).prop_map(|minutes| {
        minutes
            .into_iter()
            .enumerate()
            .map(|(n, m)| {
                let at = BASE + Duration::minutes(m);
                Candidate::new(id_at(at, u32::try_from(n).unwrap()), at)
            })
            .collect()
    })
}

fn count() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![Just(None), Just(Some(0)), (1..8u32).prop_map(Some)]
}

fn policy() -> impl Strategy<Value = KeepOptions> {
    let within = prop_oneof![
        Just(None),
        (0..2000u64).prop_map(|hours| Some(HumanDuration::from_hours(hours))),
    ];
    (count(), count(), count(), count(), count(), count(), within).prop_map(
        |(last, hourly, daily, weekly, monthly, yearly, within)| KeepOptions {
            keep_last: last,
            keep_hourly: hourly,
            keep_daily: daily,
            keep_weekly: weekly,
            keep_monthly: monthly,
            keep_yearly: yearly,
            keep_within: within,
        },
    )
}

/// "Now": mostly after the backups, sometimes in the middle of them (so some are "future").
fn now() -> impl Strategy<Value = OffsetDateTime> {
    (0..SPAN_MINUTES + 7 * 24 * 60).prop_map(|m| BASE + Duration::minutes(m))
}

fn distinct_buckets(backups: &[Candidate], bucket_of: Bucketer) -> usize {
    backups
        .iter()
        .map(|c| bucket_of(c.started_at))
        .collect::<BTreeSet<_>>()
        .len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants(
        (backups, shuffled) in candidates().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        policy in policy(),
        now in now(),
    ) {
        let plan = policy.apply(&backups, now);
        prop_assert_eq!(plan.len(), backups.len());

        // The result (as a sequence, hence as a set) does not depend on the input order.
        prop_assert_eq!(&policy.apply(&shuffled, now), &plan);

        // Newest first, ties by id.
        for pair in plan.windows(2) {
            prop_assert!((pair[0].started_at, &pair[0].id) > (pair[1].started_at, &pair[1].id));
        }

        // The newest is kept.
        if let Some(newest) = backups.iter().map(|c| c.started_at).max() {
            prop_assert!(plan[0].keep);
            prop_assert_eq!(plan[0].started_at, newest);
        }

        // keep <=> at least one reason; Newest only when nothing else applies.
        for d in &plan {
            prop_assert_eq!(d.keep, !d.reasons.is_empty());
            if d.reasons.contains(&Reason::Newest) {
                prop_assert_eq!(&d.reasons, &vec![Reason::Newest]);
            }
            // Future backups are never removed.
            if d.started_at > now {
                prop_assert!(d.keep);
                prop_assert!(policy.is_empty() || d.reasons.contains(&Reason::Future));
            }
        }

        let kept = plan.iter().filter(|d| d.keep).count();
        if policy.is_empty() {
            prop_assert_eq!(kept, backups.len());
            prop_assert!(plan.iter().all(|d| d.reasons == [Reason::EmptyPolicy]));
        } else {
            // keep_last = n keeps at least min(n, len), and exactly the n newest carry Last.
            let n = policy.keep_last.unwrap_or(0) as usize;
            prop_assert!(kept >= n.min(backups.len()));
            let with_last: Vec<bool> = plan.iter().map(|d| d.reasons.contains(&Reason::Last)).collect();
            let expected: Vec<bool> = (0..plan.len()).map(|i| i < n).collect();
            prop_assert_eq!(with_last, expected);

            // Each period rule keeps min(n, distinct periods), at most one per period.
            let rules: [(Option<u32>, Reason, Bucketer); 5] = [
                (policy.keep_hourly, Reason::Hourly, hour_bucket),
                (policy.keep_daily, Reason::Daily, day_bucket),
                (policy.keep_weekly, Reason::Weekly, week_bucket),
                (policy.keep_monthly, Reason::Monthly, month_bucket),
                (policy.keep_yearly, Reason::Yearly, year_bucket),
            ];
            for (count, reason, bucket_of) in rules {
                let n = count.unwrap_or(0) as usize;
                let chosen: Vec<&Decision> =
                    plan.iter().filter(|d| d.reasons.contains(&reason)).collect();
                prop_assert_eq!(chosen.len(), n.min(distinct_buckets(&backups, bucket_of)));
                let mut per_bucket: HashMap<Bucket, usize> = HashMap::new();
                for d in &chosen {
                    *per_bucket.entry(bucket_of(d.started_at)).or_default() += 1;
                    // ...and it is the newest backup of its period.
                    let newest_in_bucket = plan
                        .iter()
                        .find(|e| bucket_of(e.started_at) == bucket_of(d.started_at));
                    prop_assert_eq!(newest_in_bucket.map(|e| &e.id), Some(&d.id));
                }
                prop_assert!(per_bucket.values().all(|&k| k == 1));
            }

            // keep_within keeps exactly the backups at or after now - d.
            match policy.keep_within.filter(|w| *w != HumanDuration::ZERO) {
                Some(within) => {
                    for d in &plan {
                        prop_assert_eq!(
                            d.reasons.contains(&Reason::Within),
                            d.started_at >= now - within.as_time()
                        );
                    }
                }
                None => prop_assert!(plan.iter().all(|d| !d.reasons.contains(&Reason::Within))),
            }
        }
    }

    #[test]
    fn empty_policy_keeps_all(backups in candidates(), now in now()) {
        let plan = KeepOptions::default().apply(&backups, now);
        prop_assert_eq!(plan.len(), backups.len());
        prop_assert!(plan.iter().all(|d| d.keep));
    }

    #[test]
    fn keep_within_round_trips(y in 0..5u32, m in 0..5u32, w in 0..5u32, d in 0..5u32, h in 0..50u32) {
        let text = format!("{y}y{m}mo{w}w{d}d{h}h");
        let within: HumanDuration = text.parse().unwrap();
        let back: HumanDuration = within.to_string().parse().unwrap();
        prop_assert_eq!(back.as_time(), within.as_time());
        prop_assert_eq!(back, within);
    }
}
