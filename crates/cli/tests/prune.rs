//! `lifeboat prune` applies the retention of the config, `--dry-run` changes nothing, old
//! leftovers go and young ones stay, and `prune = "after-backup"` prunes after each backup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::{lifeboat, list_json, make_db, write_config};
use predicates::prelude::*;
use predicates::str::contains;

fn setup(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 50);
    write_config(
        dir.path(),
        &format!("[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\nretention = {{ keep_last = 2 }}\n{extra}"),
    );
    dir
}

#[test]
fn prune_keeps_the_policy_and_dry_run_changes_nothing() {
    let dir = setup("");
    for _ in 0..4 {
        lifeboat(dir.path()).arg("backup").assert().success();
    }
    let before = list_json(dir.path(), &[]);
    assert_eq!(before.len(), 4);

    lifeboat(dir.path())
        .args(["prune", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("would remove").and(contains("last")));
    assert_eq!(list_json(dir.path(), &[]).len(), 4);

    lifeboat(dir.path())
        .arg("prune")
        .assert()
        .success()
        .stdout(contains("removed 2 backup copy(ies)"));
    let after = list_json(dir.path(), &[]);
    assert_eq!(after.len(), 2);
    assert_eq!(after[0]["id"], before[0]["id"]);
    assert_eq!(after[1]["id"], before[1]["id"]);
    // Their folders are gone, not just the manifests.
    for gone in &before[2..] {
        let folder = dir
            .path()
            .join("backups/app")
            .join(gone["id"].as_str().unwrap());
        assert!(!folder.exists(), "{folder:?} is still there");
    }
}

#[test]
fn old_leftovers_go_and_young_ones_stay() {
    let dir = setup("");
    lifeboat(dir.path()).arg("backup").assert().success();
    let old = dir.path().join("backups/app/20200101T000000Z-aaaaaa");
    let young = dir.path().join("backups/app/20991231T000000Z-bbbbbb");
    for folder in [&old, &young] {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(folder.join("data.db.zst"), b"half a dump").unwrap();
    }
    let file = std::fs::File::options()
        .write(true)
        .open(old.join("data.db.zst"))
        .unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3 * 24 * 3600))
        .unwrap();
    lifeboat(dir.path())
        .arg("prune")
        .assert()
        .success()
        .stdout(contains("leftover of a failed run").and(contains("maybe a backup in progress")));
    assert!(!old.join("data.db.zst").exists());
    assert!(young.join("data.db.zst").exists());
    assert_eq!(list_json(dir.path(), &[]).len(), 1);
}

#[test]
fn after_backup_prunes_each_time() {
    let dir = setup("prune = \"after-backup\"\n");
    for _ in 0..4 {
        lifeboat(dir.path()).arg("backup").assert().success();
    }
    assert_eq!(list_json(dir.path(), &[]).len(), 2);
}

#[test]
fn a_bad_manifest_aborts_the_prune() {
    let dir = setup("");
    for _ in 0..3 {
        lifeboat(dir.path()).arg("backup").assert().success();
    }
    let bad = dir.path().join("backups/app/20200101T000000Z-cccccc");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("manifest.json"), b"{ not json").unwrap();
    lifeboat(dir.path())
        .arg("prune")
        .assert()
        .code(13)
        .stderr(contains("20200101T000000Z-cccccc"));
    // Nothing was removed.
    let manifests = std::fs::read_dir(dir.path().join("backups/app"))
        .unwrap()
        .count();
    assert_eq!(manifests, 4);
}
