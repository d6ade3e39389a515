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

/// Sets the modification time of a file or folder to `days` days ago.
fn age_days(path: &std::path::Path, days: u64) {
    std::fs::File::open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(days * 24 * 3600))
        .unwrap();
}

/// What a `kill -9` leaves: a temp upload in the storage root's `.lifeboat-tmp/`, the empty
/// folder made for it, a data object without a manifest, and SQLite's scratch copy in the
/// temp folder. Returns the paths, oldest first.
fn killed_run_leftovers(dir: &std::path::Path, days: u64) -> Vec<std::path::PathBuf> {
    let root = dir.join("backups");
    let temp = root.join(".lifeboat-tmp/data.db.zst.5f3a9c");
    std::fs::write(&temp, vec![1u8; 4096]).unwrap();
    let empty = root.join("app/20200101T000000Z-aaaaaa");
    std::fs::create_dir_all(&empty).unwrap();
    let orphan_dir = root.join("app/20200102T000000Z-bbbbbb");
    std::fs::create_dir_all(&orphan_dir).unwrap();
    let orphan = orphan_dir.join("data.db.zst");
    std::fs::write(&orphan, vec![2u8; 1024]).unwrap();
    // A pid above the kernel's limit: never alive.
    let scratch = dir.join("tmp/lifeboat-sqlite-4194999-Xy12ab");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join("snapshot.db"), vec![3u8; 2048]).unwrap();
    for path in [&temp, &empty, &orphan] {
        age_days(path, days);
    }
    vec![temp, empty, orphan_dir, scratch]
}

#[test]
fn leftovers_of_killed_runs_go_after_the_grace_with_the_bytes_freed() {
    let dir = setup("");
    lifeboat(dir.path()).arg("backup").assert().success();
    let left = killed_run_leftovers(dir.path(), 3);
    let young = dir.path().join("backups/.lifeboat-tmp/data.db.zst.young1");
    std::fs::write(&young, b"a backup writing now").unwrap();
    let tmp = dir.path().join("tmp");

    lifeboat(dir.path())
        .env("TMPDIR", &tmp)
        .args(["prune", "--dry-run"])
        .assert()
        .success()
        .stdout(
            contains("temp upload")
                .and(contains("empty folder"))
                .and(contains("data without manifest"))
                .and(contains("scratch copy"))
                .and(contains(
                    "would remove 0 backup copy(ies) and 4 leftover(s) (7.0 KiB of leftovers)",
                )),
        );
    assert!(
        left.iter().all(|p| p.exists()),
        "a dry run removed something"
    );
    // Leftovers are no backups: list and status see the one backup only.
    let listed = list_json(dir.path(), &[]);
    assert_eq!(listed.len(), 1);
    let status = lifeboat(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status[0]["last_backup"]["id"], listed[0]["id"]);

    lifeboat(dir.path())
        .env("TMPDIR", &tmp)
        .arg("prune")
        .assert()
        .success()
        .stdout(contains(
            "removed 0 backup copy(ies) and 4 leftover(s), freed 7.0 KiB (7.0 KiB of leftovers)",
        ));
    for path in &left {
        assert!(!path.exists(), "{path:?} is still there");
    }
    assert!(young.exists(), "a young temp file was removed");
    assert_eq!(list_json(dir.path(), &[]).len(), 1);
}

#[test]
fn the_grace_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 5);
    write_config(
        dir.path(),
        "[prune]\nleftover_grace = \"30d\"\n\n[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n",
    );
    lifeboat(dir.path()).arg("backup").assert().success();
    let left = killed_run_leftovers(dir.path(), 3);
    let out = lifeboat(dir.path())
        .env("TMPDIR", dir.path().join("tmp"))
        .args(["prune", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Three days is within a 30-day grace; only the dead process's scratch copy goes.
    assert!(left[..3].iter().all(|p| p.exists()));
    assert!(!left[3].exists());
    let source = &shown[0];
    assert_eq!(source["source"], "app");
    assert_eq!(source["ok"], true);
    assert_eq!(source["backups"].as_array().unwrap().len(), 1);
    let mut kinds: Vec<(String, bool)> = source["leftovers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_string(),
                l["remove"].as_bool().unwrap(),
            )
        })
        .collect();
    kinds.sort();
    let expected = [
        ("empty-folder", false),
        ("no-manifest", false),
        ("scratch-copy", true),
        ("temp-upload", false),
    ];
    assert_eq!(kinds, expected.map(|(k, r)| (k.to_string(), r)));
    assert_eq!(source["removed"]["leftovers"], 1);
    assert_eq!(source["removed"]["leftover_bytes_freed"], 2048);
    assert_eq!(source["removed"]["bytes_freed"], 2048);
}
