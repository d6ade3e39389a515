//! `lifeboat backup --metrics-file PATH` writes the run's metrics for the node exporter's
//! textfile collector: atomically (no temp file left), counting successes and failures per
//! source, even when the run fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{lifeboat, make_db, write_config};

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_run_with_a_failing_source_still_writes_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 200);
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n\n\
         [[sources]]\nname = \"gone\"\nkind = \"sqlite\"\npath = \"missing.db\"\n",
    );
    let metrics_dir = dir.path().join("textfile");
    std::fs::create_dir(&metrics_dir).unwrap();
    lifeboat(dir.path())
        .args(["backup", "--metrics-file", "textfile/m.prom"])
        .assert()
        .code(3);

    let path = metrics_dir.join("m.prom");
    let text = std::fs::read_to_string(&path).expect("the metrics file was written");
    let names: Vec<_> = std::fs::read_dir(&metrics_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["m.prom"], "a temp file was left beside it");

    let value =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    assert_eq!(value("lifeboat_backup_success_total{source=\"app\"}"), 1.0);
    assert_eq!(value("lifeboat_backup_failure_total{source=\"app\"}"), 0.0);
    assert_eq!(value("lifeboat_backup_failure_total{source=\"gone\"}"), 1.0);
    assert_eq!(value("lifeboat_backup_success_total{source=\"gone\"}"), 0.0);
    assert!(value("lifeboat_backup_size_bytes{source=\"app\"}") > 0.0);
    assert!(value("lifeboat_backup_raw_size_bytes{source=\"app\"}") > 0.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = value("lifeboat_backup_last_success_timestamp_seconds{source=\"app\"}");
    assert!((now - last).abs() < 300.0, "last success {last}, now {now}");
    assert!(sample(&text, "lifeboat_backup_size_bytes{source=\"gone\"}").is_none());
    assert_eq!(value("lifeboat_notification_failure_total"), 0.0);
    // The textfile collector parses the Prometheus text format: counters are typed under
    // their `_total` name, and no OpenMetrics-only line is there.
    assert!(
        text.contains("# TYPE lifeboat_backup_success_total counter\n"),
        "{text}"
    );
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "{text}"
    );
}

#[test]
fn an_unwritable_metrics_file_makes_a_good_run_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 10);
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n",
    );
    lifeboat(dir.path())
        .args(["backup", "--metrics-file", "no-such-dir/m.prom"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("metrics file"));
    // the backup itself is there
    let listed = common::list_json(dir.path(), &[]);
    assert_eq!(listed.len(), 1, "{listed:?}");
}

#[test]
fn an_unwritable_metrics_file_does_not_mask_a_worse_code() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 10);
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n\n\
         [[sources]]\nname = \"gone\"\nkind = \"sqlite\"\npath = \"missing.db\"\n",
    );
    lifeboat(dir.path())
        .args(["backup", "--metrics-file", "no-such-dir/m.prom"])
        .assert()
        .code(3);
}

#[test]
fn a_failed_run_still_reports_the_last_success() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 50);
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n",
    );
    lifeboat(dir.path()).arg("backup").assert().success();
    std::fs::remove_file(dir.path().join("app.db")).unwrap();
    lifeboat(dir.path())
        .args(["backup", "--metrics-file", "m.prom"])
        .assert()
        .code(1);
    let text = std::fs::read_to_string(dir.path().join("m.prom")).unwrap();
    assert_eq!(
        sample(&text, "lifeboat_backup_failure_total{source=\"app\"}"),
        Some(1.0)
    );
    let last = sample(
        &text,
        "lifeboat_backup_last_success_timestamp_seconds{source=\"app\"}",
    );
    assert!(last.unwrap_or(0.0) > 1.7e9, "{text}");
    assert!(sample(&text, "lifeboat_backup_size_bytes{source=\"app\"}").unwrap_or(0.0) > 0.0);
}
