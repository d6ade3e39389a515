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

#[cfg(target_os = "linux")]
#[test]
fn a_2020_lock_whose_pid_is_now_an_unrelated_live_process_is_taken_over() {
    // A reboot gave the holder's pid to another process (here pid 1): the age rule frees it.
    let dir = setup();
    let body = serde_json::json!({
        "format": "lifeboat-lock/1", "host": gethostname::gethostname().to_string_lossy(),
        "pid": 1, "started_at": "2020-03-01T02:00:00Z",
        "operation": "backup", "tool_version": "lifeboat 0.1.0", "token": "0123abcd",
    });
    std::fs::create_dir_all(dir.path().join("backups/app")).unwrap();
    std::fs::write(dir.path().join("backups/app/lock.json"), body.to_string()).unwrap();
    lifeboat(dir.path())
        .arg("backup")
        .assert()
        .success()
        .stderr(contains("taking over"));
    assert!(!dir.path().join("backups/app/lock.json").exists());
}

/// A files source big enough, and compressed hard enough, that its backup takes seconds.
fn slow_source(dir: &Path, extra: &str) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let noise: Vec<u8> = (0..32u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761).rotate_left(7) >> 3) as u8)
        .collect();
    std::fs::write(data.join("big.bin"), noise).unwrap();
    write_config(
        dir,
        &format!(
            "[compression]\nalgorithm = \"zstd\"\nlevel = 19\n\n{extra}\n\
             [[sources]]\nname = \"big\"\nkind = \"files\"\npaths = [\"data\"]\nretention = {{ keep_last = 1 }}\n"
        ),
    );
}

#[test]
fn a_second_backup_and_a_prune_during_a_backup_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    slow_source(dir.path(), "");
    lifeboat(dir.path()).arg("backup").assert().success();
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("lifeboat"))
        .current_dir(dir.path())
        .env_remove("LIFEBOAT_CONFIG")
        .arg("backup")
        .spawn()
        .unwrap();
    let lock = dir.path().join("backups/big/lock.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !lock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the backup never took its lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    lifeboat(dir.path())
        .arg("backup")
        .assert()
        .code(11)
        .stderr(contains("backup on host"));
    // The prune that would remove the older backup (keep_last = 1) waits for another day:
    // it never touches the backup in progress.
    lifeboat(dir.path()).arg("prune").assert().code(11);
    assert!(first.wait().unwrap().success());
    assert_eq!(list_json(dir.path(), &[]).len(), 2);
    lifeboat(dir.path()).arg("prune").assert().success();
    assert_eq!(list_json(dir.path(), &[]).len(), 1);
}

#[test]
fn the_stale_timeout_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 20);
    write_config(
        dir.path(),
        "[locks]\nstale_after = \"1h\"\n\n[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n",
    );
    // A holder on another host whose lock is two hours old: stale under a 1 h timeout.
    let host = "another-host".to_string();
    let old = (time::OffsetDateTime::now_utc() - time::Duration::hours(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = serde_json::json!({
        "format": "lifeboat-lock/1", "host": host, "pid": 1, "started_at": old,
        "operation": "backup", "tool_version": "lifeboat 0.1.0", "token": "0123abcd",
    });
    std::fs::create_dir_all(dir.path().join("backups/app")).unwrap();
    std::fs::write(dir.path().join("backups/app/lock.json"), body.to_string()).unwrap();
    lifeboat(dir.path()).arg("backup").assert().success();
}

#[test]
fn an_unreachable_storage_misses_the_backup_but_does_not_stop_it() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 20);
    std::fs::write(dir.path().join("afile"), b"not a folder").unwrap();
    std::fs::write(
        dir.path().join("lifeboat.toml"),
        "[storage.a]\nkind = \"fs\"\nroot = \"./a\"\n\n[storage.b]\nkind = \"fs\"\nroot = \"./afile/b\"\n\n\
         [[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\nstorage = [\"a\", \"b\"]\n",
    )
    .unwrap();
    lifeboat(dir.path())
        .arg("backup")
        .assert()
        .code(3)
        .stdout(contains("partial"))
        .stderr(contains("misses this backup"));
    let out = lifeboat(dir.path())
        .args(["list", "--storage", "a", "--json"])
        .output()
        .unwrap();
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 1);
}
