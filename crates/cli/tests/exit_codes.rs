//! Tampered artifacts are exit 13, wrong or missing keys exit 12, and neither writes anything
//! to the restore target; a partial run is exit 3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{lifeboat, list_json, make_db, write_config};
use predicates::prelude::*;
use predicates::str::contains;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A database and an identity; one encrypted backup of it.
    fn encrypted() -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_db(&dir.path().join("app.db"), 2_000);
        let out = lifeboat(dir.path())
            .args(["keygen", "--output", "key.txt"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let recipient = String::from_utf8(out.stdout).unwrap().trim().to_string();
        write_config(
            dir.path(),
            &format!(
                "[encryption]\nrecipients = [\"{recipient}\"]\nidentity_file = \"key.txt\"\n\n\
                 [[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n"
            ),
        );
        lifeboat(dir.path()).arg("backup").assert().success();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn artifact(&self) -> PathBuf {
        let listed = list_json(self.path(), &[]);
        self.path()
            .join("backups")
            .join(listed[0]["artifact_key"].as_str().unwrap())
    }

    /// verify and restore both fail with `code`, and the restore target is never created.
    fn assert_refused(&self, code: i32, message: &str) {
        lifeboat(self.path())
            .args(["verify", "app"])
            .assert()
            .code(code)
            .stdout(contains(message));
        lifeboat(self.path())
            .args(["restore", "app", "--to", "out/restored.db"])
            .assert()
            .code(code)
            .stderr(contains(message));
        assert!(
            !self.path().join("out/restored.db").exists(),
            "the target was written"
        );
        let leftovers: Vec<_> = std::fs::read_dir(self.path().join("out"))
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }
}

#[test]
fn an_intact_backup_verifies_and_restores() {
    let f = Fixture::encrypted();
    // `list --json` carries the store's metadata: the exact row counts.
    assert_eq!(
        list_json(f.path(), &[])[0]["metadata"]["tables"]["items"],
        2_000
    );
    lifeboat(f.path())
        .args(["verify"])
        .assert()
        .success()
        .stdout(contains("ok"));
    lifeboat(f.path())
        .args(["restore", "app", "--to", "out/restored.db"])
        .assert()
        .success();
    assert_eq!(
        common::db_fingerprint(&f.path().join("out/restored.db")),
        common::db_fingerprint(&f.path().join("app.db"))
    );
}

#[test]
fn a_flipped_byte_is_an_integrity_failure() {
    for offset in [10usize, 200, 5_000] {
        let f = Fixture::encrypted();
        let artifact = f.artifact();
        let mut bytes = std::fs::read(&artifact).unwrap();
        let at = offset.min(bytes.len() - 1);
        bytes[at] ^= 0x20;
        std::fs::write(&artifact, bytes).unwrap();
        f.assert_refused(13, "integrity");
    }
}

#[test]
fn truncation_and_garbage_are_integrity_failures() {
    let f = Fixture::encrypted();
    let artifact = f.artifact();
    let bytes = std::fs::read(&artifact).unwrap();
    std::fs::write(&artifact, &bytes[..bytes.len() / 2]).unwrap();
    f.assert_refused(13, "integrity");

    let mut longer = bytes.clone();
    longer.extend_from_slice(b"garbage");
    std::fs::write(&artifact, longer).unwrap();
    f.assert_refused(13, "integrity");
}

#[test]
fn another_backups_data_is_an_integrity_failure() {
    let f = Fixture::encrypted();
    let first = f.artifact();
    lifeboat(f.path()).arg("backup").assert().success();
    let second = f.artifact();
    assert_ne!(first, second);
    // Swap the newest backup's data for the older one's.
    std::fs::copy(&first, &second).unwrap();
    f.assert_refused(13, "integrity");
}

#[test]
fn a_missing_data_object_is_an_integrity_failure() {
    let f = Fixture::encrypted();
    std::fs::remove_file(f.artifact()).unwrap();
    f.assert_refused(13, "missing");
}

#[test]
fn a_wrong_identity_is_a_decrypt_failure() {
    let f = Fixture::encrypted();
    std::fs::remove_file(f.path().join("key.txt")).unwrap();
    lifeboat(f.path())
        .args(["keygen", "--output", "key.txt"])
        .assert()
        .success();
    f.assert_refused(12, "no configured identity matches");
}

#[test]
fn a_missing_identity_is_a_decrypt_failure() {
    let f = Fixture::encrypted();
    std::fs::remove_file(f.path().join("key.txt")).unwrap();
    f.assert_refused(12, "key.txt");
}

#[test]
fn a_wrong_passphrase_is_a_decrypt_failure() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 100);
    write_config(
        dir.path(),
        "[encryption]\npassphrase = \"${PASS}\"\n\n[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n",
    );
    lifeboat(dir.path())
        .env("PASS", "right one")
        .arg("backup")
        .assert()
        .success();
    lifeboat(dir.path())
        .env("PASS", "wrong one")
        .args(["restore", "app", "--to", "restored.db"])
        .assert()
        .code(12)
        .stderr(contains("wrong passphrase").and(predicates::str::contains("right one").not()));
    assert!(!dir.path().join("restored.db").exists());
}

#[test]
fn some_sources_failing_is_exit_3_and_leaves_no_manifest() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 100);
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n\n\
         [[sources]]\nname = \"gone\"\nkind = \"sqlite\"\npath = \"missing.db\"\n",
    );
    lifeboat(dir.path())
        .arg("backup")
        .assert()
        .code(3)
        .stdout(contains("FAILED"))
        .stderr(contains("missing.db"));
    assert!(
        !dir.path().join("missing.db").exists(),
        "the missing source was created"
    );
    let listed = list_json(dir.path(), &[]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["source"], "app");
    // Only the failing source: exit 1.
    lifeboat(dir.path())
        .args(["backup", "gone"])
        .assert()
        .code(1);
}

#[test]
fn a_leftover_data_object_is_never_listed_or_restored() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 100);
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n",
    );
    // What a killed run leaves: data without a manifest.
    let leftover = dir.path().join("backups/app/20991231T000000Z-abcdef");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("data.db.zst"), b"half a dump").unwrap();
    lifeboat(dir.path())
        .arg("list")
        .assert()
        .success()
        .stdout(contains("no backups found"));
    lifeboat(dir.path())
        .args(["restore", "app", "--to", "r.db"])
        .assert()
        .code(1)
        .stderr(contains("no backup"));
}

#[test]
fn a_dry_run_checks_the_backup_and_changes_nothing() {
    let f = Fixture::encrypted();
    lifeboat(f.path())
        .args(["restore", "app", "--dry-run", "--to", "out/restored.db"])
        .assert()
        .success()
        .stdout(contains("dry run").and(contains("would restore to")));
    assert!(!f.path().join("out/restored.db").exists());

    // The source's own file exists: the dry run says a real restore would be refused.
    let before = std::fs::read(f.path().join("app.db")).unwrap();
    lifeboat(f.path())
        .args(["restore", "app", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("would be refused"));
    assert_eq!(std::fs::read(f.path().join("app.db")).unwrap(), before);

    // A damaged artifact fails the dry run like a restore.
    let artifact = f.artifact();
    let mut bytes = std::fs::read(&artifact).unwrap();
    bytes[300] ^= 0x01;
    std::fs::write(&artifact, bytes).unwrap();
    lifeboat(f.path())
        .args(["restore", "app", "--dry-run", "--to", "out/restored.db"])
        .assert()
        .code(13);
}
