//! `lifeboat status`: healthy, stale, anomalous and failed-verify sources give the right exit
//! code (0 or 4) and JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{lifeboat, list_json, make_db, write_config};
use predicates::str::contains;

fn setup(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 200);
    write_config(
        dir.path(),
        &format!("[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n{extra}"),
    );
    dir
}

fn status_json(dir: &Path) -> (i32, serde_json::Value) {
    let out = lifeboat(dir).args(["status", "--json"]).output().unwrap();
    let value = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
    (out.status.code().unwrap(), value[0].clone())
}

fn backups(dir: &Path, n: usize) {
    for _ in 0..n {
        lifeboat(dir).arg("backup").assert().success();
    }
}

#[test]
fn a_fresh_verified_source_is_healthy() {
    let dir = setup("");
    backups(dir.path(), 4);
    lifeboat(dir.path()).arg("verify").assert().success();
    let (code, status) = status_json(dir.path());
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["healthy"], true);
    assert_eq!(status["problems"], serde_json::json!([]));
    assert_eq!(status["max_age_seconds"], 25 * 3600);
    assert!(status["size_median_bytes"].as_u64().unwrap() > 0);
    assert_eq!(status["last_verify"]["ok"], true);
    lifeboat(dir.path())
        .arg("status")
        .assert()
        .success()
        .stdout(contains("ok"));
}

#[test]
fn no_backup_is_unhealthy() {
    let dir = setup("");
    lifeboat(dir.path())
        .arg("status")
        .assert()
        .code(4)
        .stdout(contains("no backup found"));
}

#[test]
fn a_stale_source_is_unhealthy() {
    let dir = setup("max_age = \"1h\"\n");
    backups(dir.path(), 1);
    // Make the backup two days old.
    let listed = list_json(dir.path(), &[]);
    let id = listed[0]["id"].as_str().unwrap();
    let path = dir
        .path()
        .join("backups/app")
        .join(id)
        .join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let old = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    let old = old
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    manifest["started_at"] = old.clone().into();
    manifest["finished_at"] = old.into();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();

    let (code, status) = status_json(dir.path());
    assert_eq!(code, 4);
    assert_eq!(status["healthy"], false);
    assert_eq!(status["max_age_seconds"], 3600);
    assert!(
        status["problems"][0].as_str().unwrap().contains("old"),
        "{status}"
    );
}

#[test]
fn the_schedule_sets_the_default_max_age() {
    let dir = setup("schedule = \"0 */2 * * *\"\n");
    backups(dir.path(), 1);
    let (code, status) = status_json(dir.path());
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["max_age_seconds"], 3 * 3600);
}

#[test]
fn a_size_anomaly_is_unhealthy() {
    let dir = setup("");
    backups(dir.path(), 4);
    // The database suddenly grows tenfold.
    let db = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    db.execute_batch(
        "CREATE TABLE blobs(b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000) INSERT INTO blobs SELECT randomblob(1000) FROM n;",
    )
    .unwrap();
    drop(db);
    backups(dir.path(), 1);
    let (code, status) = status_json(dir.path());
    assert_eq!(code, 4, "{status}");
    assert!(
        status["problems"][0].as_str().unwrap().contains("median"),
        "{status}"
    );
}

#[test]
fn a_failed_verify_is_unhealthy() {
    let dir = setup("");
    backups(dir.path(), 1);
    let listed = list_json(dir.path(), &[]);
    let artifact = dir
        .path()
        .join("backups")
        .join(listed[0]["artifact_key"].as_str().unwrap());
    let mut bytes = std::fs::read(&artifact).unwrap();
    bytes[50] ^= 1;
    std::fs::write(&artifact, bytes).unwrap();
    lifeboat(dir.path()).arg("verify").assert().code(13);
    let (code, status) = status_json(dir.path());
    assert_eq!(code, 4);
    assert_eq!(status["last_verify"]["ok"], false);
    assert!(
        status["problems"][0].as_str().unwrap().contains("verify"),
        "{status}"
    );
}

#[test]
fn a_bad_schedule_is_a_config_error() {
    let dir = setup("schedule = \"every day at two\"\n");
    lifeboat(dir.path())
        .arg("status")
        .assert()
        .code(2)
        .stderr(contains("not a cron pattern"));
}
