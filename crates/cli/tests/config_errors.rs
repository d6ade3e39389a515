//! Configuration mistakes are exit 2 with the line or the name in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{lifeboat, write_config};
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn unknown_key_names_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a.db\"\npaht = \"typo\"\n",
    );
    lifeboat(dir.path())
        .arg("check")
        .assert()
        .code(2)
        .stderr(contains("paht").and(contains("line 5")));
}

#[test]
fn unset_variable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[encryption]\npassphrase = \"${LIFEBOAT_TEST_UNSET_VAR}\"\n",
    );
    lifeboat(dir.path())
        .env_remove("LIFEBOAT_TEST_UNSET_VAR")
        .arg("backup")
        .assert()
        .code(2)
        .stderr(contains("LIFEBOAT_TEST_UNSET_VAR").and(contains("encryption.passphrase")));
}

#[test]
fn set_variable_is_used_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    common::make_db(&dir.path().join("a.db"), 10);
    write_config(
        dir.path(),
        "[encryption]\npassphrase = \"${LIFEBOAT_TEST_PASS}\"\n\n[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a.db\"\n",
    );
    let out = lifeboat(dir.path())
        .env("LIFEBOAT_TEST_PASS", "hunter2-very-secret")
        .args(["-v", "backup"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !everything.contains("hunter2"),
        "the passphrase leaked into the output"
    );
    for entry in walk(&dir.path().join("backups")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("hunter2"),
            "{entry:?} holds the passphrase"
        );
    }
    lifeboat(dir.path())
        .env("LIFEBOAT_TEST_PASS", "hunter2-very-secret")
        .args(["verify", "app"])
        .assert()
        .success();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn duplicate_source_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a.db\"\n\n[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"b.db\"\n",
    );
    lifeboat(dir.path())
        .arg("list")
        .assert()
        .code(2)
        .stderr(contains("`app` is used twice").and(contains("line 10")));
}

#[test]
fn path_like_source_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[[sources]]\nname = \"../x\"\nkind = \"sqlite\"\npath = \"a.db\"\n",
    );
    lifeboat(dir.path())
        .arg("backup")
        .assert()
        .code(2)
        .stderr(contains("`../x`").and(contains("line 5")));
}

#[test]
fn missing_config_and_unknown_source_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    lifeboat(dir.path())
        .arg("list")
        .assert()
        .code(2)
        .stderr(contains("lifeboat.toml"));
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a.db\"\n",
    );
    lifeboat(dir.path())
        .args(["backup", "nope"])
        .assert()
        .code(2)
        .stderr(contains("no source named `nope`"));
    lifeboat(dir.path())
        .args(["restore", "app", "--id", "../../etc"])
        .assert()
        .code(2)
        .stderr(contains("not a backup id"));
}

#[test]
fn unusable_encryption_never_falls_back_to_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    common::make_db(&dir.path().join("a.db"), 10);
    write_config(
        dir.path(),
        "[encryption]\nrecipients = [\"age1notarealkey\"]\n\n[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a.db\"\n",
    );
    lifeboat(dir.path())
        .arg("backup")
        .assert()
        .code(2)
        .stderr(contains("age1notarealkey"));
    assert!(
        !dir.path().join("backups/app").exists(),
        "a backup was written anyway"
    );
}

#[test]
fn a_bad_verify_schedule_is_a_config_error_with_its_line() {
    // It used to pass `check` with exit 0, and the daemon silently never ran the drill.
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a.db\"\nverify_schedule = \"at dawn\"\n",
    );
    for verb in ["check", "daemon"] {
        lifeboat(dir.path()).arg(verb).assert().code(2).stderr(
            contains("verify_schedule")
                .and(contains("not a cron pattern"))
                .and(contains("line 5")),
        );
    }
}

#[test]
fn durations_take_one_syntax_and_old_names_still_read_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    common::make_db(&dir.path().join("a.db"), 10);
    let source = "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a.db\"\n";
    // The old spellings: `*_seconds` integers, and `m` for months in max_age / stale_after.
    write_config(
        dir.path(),
        &format!(
            "[daemon]\njitter_seconds = 0\nshutdown_grace_seconds = 5\n\n[locks]\nstale_after = \"1m\"\n\n{source}max_age = \"1m\"\n"
        ),
    );
    lifeboat(dir.path())
        .args(["backup"])
        .assert()
        .success()
        .stderr(
            contains("`jitter_seconds` is renamed `jitter`")
                .and(contains(
                    "`shutdown_grace_seconds` is renamed `shutdown_grace`",
                ))
                .and(contains("uses `m` for months")),
        );
    // The new spellings read without a warning.
    write_config(
        dir.path(),
        &format!(
            "[daemon]\njitter = \"0s\"\nshutdown_grace = \"5s\"\n\n[locks]\nstale_after = \"1mo\"\n\n{source}max_age = \"30d\"\n"
        ),
    );
    lifeboat(dir.path())
        .args(["backup"])
        .assert()
        .success()
        .stderr(contains("deprecated").not());
    // A bare `m` in a new duration key is ambiguous, and both names at once are refused.
    for bad in [
        "[daemon]\nshutdown_grace = \"5m\"\n",
        "[daemon]\nshutdown_grace = \"5s\"\nshutdown_grace_seconds = 5\n",
    ] {
        write_config(dir.path(), &format!("{bad}\n{source}"));
        lifeboat(dir.path())
            .arg("check")
            .assert()
            .code(2)
            .stderr(contains("shutdown_grace").and(contains("line")));
    }
}
