//! Locks through the binary: a live holder makes backup, prune and restore exit 11 naming it;
//! a lock whose process is gone is taken over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{lifeboat, list_json, make_db, write_config};
use predicates::prelude::*;
use predicates::str::contains;

fn lock_file(dir: &Path, pid: u32) {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = serde_json::json!({
        "format": "lifeboat-lock/1", "host": host, "pid": pid, "started_at": now,
        "operation": "backup", "tool_version": "lifeboat 0.1.0", "token": "0123abcd",
    });
    std::fs::create_dir_all(dir.join("backups/app")).unwrap();
    std::fs::write(dir.join("backups/app/lock.json"), body.to_string()).unwrap();
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 20);
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\nretention = { keep_last = 1 }\n",
    );
    dir
}

#[test]
fn a_live_holder_makes_every_writer_exit_11() {
    let dir = setup();
    lifeboat(dir.path()).arg("backup").assert().success();
    // pid 1 is alive on every Linux host.
    lock_file(dir.path(), 1);
    for args in [
        vec!["backup"],
        vec!["prune"],
        vec!["restore", "app", "--to", "r.db"],
    ] {
        lifeboat(dir.path())
            .args(&args)
            .assert()
            .code(11)
            .stderr(contains("locked").and(contains("pid 1")));
    }
    assert!(!dir.path().join("r.db").exists());
    assert_eq!(list_json(dir.path(), &[]).len(), 1);
    // Reading and planning need no lock.
    lifeboat(dir.path())
        .args(["prune", "--dry-run"])
        .assert()
        .success();
    lifeboat(dir.path()).arg("verify").assert().success();
    // The holder's lock is left alone.
    assert!(dir.path().join("backups/app/lock.json").exists());
}

#[test]
fn a_lock_whose_process_is_gone_is_taken_over() {
    let dir = setup();
    // No process has this pid (above the kernel's pid_max).
    lock_file(dir.path(), 4_194_304 + 7);
    lifeboat(dir.path())
        .arg("backup")
        .assert()
        .success()
        .stderr(contains("taking over"));
    assert!(
        !dir.path().join("backups/app/lock.json").exists(),
        "our lock was not released"
    );
    assert_eq!(list_json(dir.path(), &[]).len(), 1);
}
