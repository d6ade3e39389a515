//! The postgres store through the `lifeboat` binary, against the real server on 127.0.0.1:5432:
//! backup → list → verify (--deep) → restore, the failures that must leave no manifest, the
//! non-empty target refusal, and secrets that must never show.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{lifeboat, list_json, write_config};
use lifeboat_testing::postgres::{psql, server_up, TestDb, HOST};
use lifeboat_testing::{fake_tool, REAL_VERSION};
use predicates::str::contains;

/// The role `.ci/postgres-auth.sh` makes ask for a scram password.
const PW_ROLE: &str = "lifeboat_pw_test";
const PW_SECRET: &str = "lifeboat-pw-test-secret";

/// A database for one test holding `sql`, dropped at the end (callers checked `server_up`).
fn create_db(prefix: &str, sql: &str) -> TestDb {
    let db = TestDb::create(prefix).expect("the server answered server_up");
    if !sql.is_empty() {
        db.psql(sql);
    }
    db
}

/// Row count and md5 of every row of `table`.
fn digest(db: &TestDb, table: &str) -> String {
    db.psql(&format!(
        "SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
    ))
}

const DATA: &str = "CREATE TABLE items(id int PRIMARY KEY, body text, doc jsonb); \
    INSERT INTO items SELECT g, repeat(md5(g::text), 3), jsonb_build_object('g', g) FROM generate_series(1, 20000) g; \
    CREATE TABLE notes(id serial PRIMARY KEY, note text); INSERT INTO notes(note) VALUES ('a'), ('b');";

fn source(name: &str, url: &str, extra: &str) -> String {
    format!("[[sources]]\nname = \"{name}\"\nkind = \"postgres\"\nurl = \"{url}\"\n{extra}")
}

#[test]
fn backup_verify_deep_and_restore_to_a_new_database() {
    if !server_up() {
        return;
    }
    let db = create_db("cli_rt", DATA);
    let dir = tempfile::tempdir().unwrap();
    let out = lifeboat(dir.path())
        .args(["keygen", "--output", "key.txt"])
        .output()
        .unwrap();
    let recipient = String::from_utf8(out.stdout).unwrap().trim().to_string();
    write_config(
        dir.path(),
        &format!(
            "[encryption]\nrecipients = [\"{recipient}\"]\nidentity_file = \"key.txt\"\n\n{}",
            source("orders", &db.url(), "")
        ),
    );
    lifeboat(dir.path()).arg("check").assert().success();
    lifeboat(dir.path())
        .args(["backup", "orders"])
        .assert()
        .success();
    let listed = list_json(dir.path(), &[]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["dump_format"], "pg_dump-custom");
    assert!(listed[0]["artifact_key"]
        .as_str()
        .unwrap()
        .ends_with("data.dump.zst.age"));
    let key = listed[0]["artifact_key"].as_str().unwrap();
    let manifest_path = dir
        .path()
        .join("backups")
        .join(key)
        .with_file_name("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest_path).unwrap()).unwrap();
    assert_eq!(
        manifest["metadata"]["databases"][0]["tables"]["public.items"],
        20000
    );

    lifeboat(dir.path())
        .args(["verify", "orders"])
        .assert()
        .success();
    let out = lifeboat(dir.path())
        .args(["verify", "orders", "--deep", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("restore_ms"), "{text}");

    // The source database is not empty: restoring over it is refused.
    lifeboat(dir.path())
        .args(["restore", "orders"])
        .assert()
        .code(1)
        .stderr(contains("not empty").or(contains("not empty")));

    let copy = TestDb::named("cli_rt_copy");
    lifeboat(dir.path())
        .args(["restore", "orders", "--to", &copy.url()])
        .assert()
        .success();
    assert_eq!(digest(&db, "items"), digest(&copy, "items"));
    assert_eq!(digest(&db, "notes"), digest(&copy, "notes"));
    assert_eq!(psql(&copy.name, "SELECT last_value FROM notes_id_seq"), "2");
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn restore_into_a_non_empty_database_without_force_changes_nothing() {
    if !server_up() {
        return;
    }
    let db = create_db("cli_ne", DATA);
    let other = create_db(
        "cli_ne_dst",
        "CREATE TABLE keep(v text); INSERT INTO keep VALUES ('precious');",
    );
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &source("orders", &db.url(), ""));
    lifeboat(dir.path())
        .args(["backup", "orders"])
        .assert()
        .success();
    let out = lifeboat(dir.path())
        .args(["restore", "orders", "--to", &other.url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("not empty") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        psql(&other.name, "SELECT string_agg(v, ',') FROM keep"),
        "precious"
    );

    // --dry-run reports what a restore would do and changes nothing.
    let out = lifeboat(dir.path())
        .args(["restore", "orders", "--dry-run", "--to", &other.url()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("refused") && text.contains("not empty"),
        "{text}"
    );
    let missing = TestDb::named("cli_ne_missing");
    let out = lifeboat(dir.path())
        .args(["restore", "orders", "--dry-run", "--to", &missing.url()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("would create the database"), "{text}");
    assert!(!missing.exists(), "a dry run created the database");
    assert_eq!(
        psql(
            &other.name,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "1"
    );
}

/// Runs a backup expected to fail: exit 1, the message, and no manifest in storage.
fn assert_backup_fails(dir: &Path, path_env: Option<&str>, message: &str) {
    let mut cmd = lifeboat(dir);
    if let Some(path) = path_env {
        cmd.env("PATH", path);
    }
    let out = cmd.args(["backup", "orders"]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(message), "expected `{message}` in: {text}");
    assert!(
        list_json(dir, &[]).is_empty(),
        "a failed backup left a manifest"
    );
}

#[test]
fn unreachable_host_fails_without_a_manifest() {
    if !server_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &source("orders", "postgres://root:hunter2@127.0.0.1:1/orders", ""),
    );
    assert_backup_fails(
        dir.path(),
        None,
        "cannot connect to postgres://root@127.0.0.1:1/orders",
    );
}

#[test]
fn missing_database_fails_without_a_manifest() {
    if !server_up() {
        return;
    }
    let missing = TestDb::named("cli_missing");
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &source("orders", &missing.url(), ""));
    assert_backup_fails(dir.path(), None, "does not exist");
}

#[test]
fn pg_dump_missing_from_path_fails_without_a_manifest() {
    if !server_up() {
        return;
    }
    let db = create_db("cli_nodump", DATA);
    let dir = tempfile::tempdir().unwrap();
    let empty_bin = dir.path().join("bin");
    std::fs::create_dir(&empty_bin).unwrap();
    write_config(dir.path(), &source("orders", &db.url(), ""));
    assert_backup_fails(
        dir.path(),
        Some(empty_bin.to_str().unwrap()),
        "cannot run `pg_dump`",
    );
}

#[test]
fn pg_dump_killed_midway_fails_without_a_manifest() {
    if !server_up() {
        return;
    }
    let db = create_db("cli_killed", DATA);
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // A pg_dump that writes the first 100 kB of a real dump, says something on stderr, then
    // dies by SIGKILL: the error carries both the signal and pg_dump's stderr.
    fake_tool(
        &bin,
        "pg_dump",
        &format!(
            "{REAL_VERSION}\n\"$REAL\" \"$@\" | head -c 100000\n\
             echo 'pg_dump: about to be killed' >&2\nkill -9 $$"
        ),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    write_config(dir.path(), &source("orders", &db.url(), ""));
    assert_backup_fails(dir.path(), Some(&path), "signal: 9");
    assert_backup_fails(dir.path(), Some(&path), "pg_dump: about to be killed");
}

#[test]
fn a_client_older_than_the_server_is_a_clear_error() {
    if !server_up() {
        return;
    }
    let db = create_db("cli_old", DATA);
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    fake_tool(&bin, "pg_dump", "echo 'pg_dump (PostgreSQL) 14.11'\nexit 0");
    write_config(
        dir.path(),
        &source(
            "orders",
            &db.url(),
            &format!("bin_dir = \"{}\"\n", bin.display()),
        ),
    );
    let out = lifeboat(dir.path()).arg("check").output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("pg_dump 14.11 is older than the server") && text.contains("PostgreSQL 15."),
        "{text}"
    );
    assert_backup_fails(dir.path(), None, "pg_dump 14.11 is older than the server");
}

/// Whether `.ci/postgres-auth.sh` gave PW_ROLE a scram password rule.
fn password_rule_present() -> bool {
    let rules = psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_hba_file_rules WHERE '{PW_ROLE}' = ANY(user_name) AND auth_method = 'scram-sha-256'"),
    );
    if rules != "0" {
        return true;
    }
    lifeboat_testing::service_unavailable(format_args!(
        "no scram rule for {PW_ROLE} in pg_hba.conf (run .ci/postgres-auth.sh)"
    ));
    false
}

#[test]
fn wrong_password_fails_without_a_manifest_or_the_password() {
    if !server_up() || !password_rule_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://{PW_ROLE}:not-the-password@127.0.0.1:5432/postgres");
    write_config(dir.path(), &source("orders", &url, ""));
    assert_backup_fails(dir.path(), None, "password authentication failed");
    let out = lifeboat(dir.path())
        .args(["backup", "orders"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("not-the-password"), "{text}");
}

/// Samples `ps -eo args` until stopped; returns every line that held `needle`.
fn watch_process_list(
    needle: &'static str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let mut hits = Vec::new();
        let mut samples = 0;
        while !stop.load(Ordering::SeqCst) {
            if let Ok(out) = Command::new("ps").args(["-eo", "args"]).output() {
                samples += 1;
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    if line.contains(needle) && !line.contains("cargo") {
                        hits.push(line.to_string());
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        (samples, hits)
    })
}

#[test]
fn passwords_never_reach_logs_manifests_or_the_process_list() {
    if !server_up() {
        return;
    }
    // With the scram role the password is really used; without it (trust auth) it still
    // travels to pg_dump and must still never show.
    let scram = password_rule_present();
    let (user, password) = if scram {
        (PW_ROLE, PW_SECRET)
    } else {
        ("root", PW_SECRET)
    };
    let db = TestDb::named("cli_secret");
    psql(
        "postgres",
        &format!("CREATE DATABASE \"{}\" OWNER {user}", db.name),
    );
    let out = Command::new("psql")
        .env("PGPASSWORD", password)
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            HOST,
            "-U",
            user,
            "-d",
            &db.name,
            "-c",
            DATA,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let in_url = format!("postgres://{user}:{password}@127.0.0.1:5432/{}", db.name);
    let by_option = format!("postgres://{user}@127.0.0.1:5432/{}", db.name);
    write_config(
        dir.path(),
        &format!(
            "{}\n{}",
            source("in_url", &in_url, ""),
            source(
                "by_option",
                &by_option,
                "password = \"${PG_TEST_PASSWORD}\"\n"
            )
        ),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_process_list(PW_SECRET, stop.clone());
    let mut logs = String::new();
    for args in [
        vec!["--log-format", "json", "check"],
        vec!["--log-format", "json", "backup"],
        vec!["--log-format", "json", "verify", "--deep"],
    ] {
        let out = lifeboat(dir.path())
            .env("LIFEBOAT_LOG", "debug")
            .env("PG_TEST_PASSWORD", password)
            .args(&args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        logs.push_str(&text);
    }
    let copy = TestDb::named("cli_secret_copy");
    let out = lifeboat(dir.path())
        .env("LIFEBOAT_LOG", "debug")
        .env("PG_TEST_PASSWORD", password)
        .args([
            "--log-format",
            "json",
            "restore",
            "by_option",
            "--to",
            &copy.url().replace("root@", &format!("{user}@")),
        ])
        .output()
        .unwrap();
    logs.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "restore failed: {logs}");
    stop.store(true, Ordering::SeqCst);
    let (samples, hits) = watcher.join().unwrap();
    assert!(
        samples > 3,
        "the process list was sampled only {samples} times"
    );
    assert!(
        hits.is_empty(),
        "the password showed in the process list: {hits:?}"
    );
    assert!(
        logs.contains("DEBUG") || logs.contains("debug"),
        "no debug logs were captured"
    );
    assert!(!logs.contains(password), "the password is in the logs");
    assert!(
        logs.contains(&format!("postgres://{user}@127.0.0.1:5432/{}", db.name)),
        "{logs}"
    );

    assert_eq!(
        common::list_json_env(dir.path(), &[], &[("PG_TEST_PASSWORD", password)]).len(),
        2
    );
    let mut manifests = 0;
    for entry in walk(&dir.path().join("backups")) {
        if entry.file_name().is_some_and(|n| n == "manifest.json") {
            manifests += 1;
            let text = std::fs::read_to_string(&entry).unwrap();
            assert!(
                !text.contains(password),
                "the password is in {}",
                entry.display()
            );
        }
    }
    assert_eq!(manifests, 2);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
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

/// Whether the server has `ssl = on`; a skip notice otherwise (TLS is optional for the server,
/// so this skips even under LIFEBOAT_REQUIRE_SERVICES=1).
fn ssl_on() -> bool {
    if !server_up() {
        return false;
    }
    let on = psql("postgres", "SHOW ssl") == "on";
    if !on {
        eprintln!("skipping: PostgreSQL at {HOST}:5432 has ssl = off");
    }
    on
}

#[test]
fn sslmode_require_encrypts_backup_restore_and_drill() {
    if !ssl_on() {
        return;
    }
    let db = create_db("cli_tls", DATA);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}?sslmode=require", db.url());
    write_config(dir.path(), &source("orders", &url, ""));
    lifeboat(dir.path())
        .args(["backup", "orders"])
        .assert()
        .success();
    let listed = list_json(dir.path(), &[]);
    let key = listed[0]["artifact_key"].as_str().unwrap();
    let manifest_path = dir
        .path()
        .join("backups")
        .join(key)
        .with_file_name("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest_path).unwrap()).unwrap();
    // What the server saw (pg_stat_ssl) on lifeboat's connection.
    let tls = manifest["metadata"]["tls"].as_str().unwrap_or_default();
    assert!(tls.starts_with("TLS"), "{manifest}");

    let out = lifeboat(dir.path())
        .args(["verify", "orders", "--deep", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("\"sslmode\": \"require\"") || text.contains("\"sslmode\":\"require\""),
        "{text}"
    );
    assert!(
        text.contains("\"tls\": \"TLS") || text.contains("\"tls\":\"TLS"),
        "{text}"
    );

    let copy = TestDb::named("cli_tls_copy");
    lifeboat(dir.path())
        .args([
            "restore",
            "orders",
            "--to",
            &format!("{}?sslmode=require", copy.url()),
        ])
        .assert()
        .success();
    assert_eq!(digest(&db, "items"), digest(&copy, "items"));
}

#[test]
fn sslmode_verify_full_against_an_ip_names_the_host_mismatch() {
    let snakeoil = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    if !ssl_on() {
        return;
    }
    if psql("postgres", "SHOW ssl_cert_file") != snakeoil {
        eprintln!("skipping: the server does not use {snakeoil}");
        return;
    }
    let db = create_db("cli_tls_full", "");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}?sslmode=verify-full&sslrootcert={snakeoil}", db.url());
    write_config(dir.path(), &source("orders", &url, ""));
    assert_backup_fails(dir.path(), None, "does not name the host `127.0.0.1`");
    // verify-ca checks the chain only: the same URL works (in-process and pg_dump alike).
    let url = format!("{}?sslmode=verify-ca", db.url());
    write_config(
        dir.path(),
        &source("orders", &url, &format!("tls_ca_file = \"{snakeoil}\"\n")),
    );
    lifeboat(dir.path())
        .args(["backup", "orders"])
        .assert()
        .success();
    // The old name of `tls_ca_file` still works for this release, with a warning.
    write_config(
        dir.path(),
        &source("orders", &url, &format!("ssl_root_cert = \"{snakeoil}\"\n")),
    );
    lifeboat(dir.path())
        .args(["backup", "orders"])
        .assert()
        .success()
        .stderr(contains("`ssl_root_cert` is renamed `tls_ca_file`"));
}

#[test]
fn renamed_keys_still_read_with_a_warning_and_both_names_are_a_config_error() {
    if !server_up() {
        return;
    }
    let db = create_db("cli_renamed", DATA);
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &source(
            "orders",
            &db.url(),
            "lock_wait_timeout_secs = 60\nconnect_timeout_secs = 5\n",
        ),
    );
    lifeboat(dir.path())
        .args(["backup", "orders"])
        .assert()
        .success()
        .stderr(contains(
            "`lock_wait_timeout_secs` is renamed `lock_wait_timeout`",
        ))
        .stderr(contains(
            "`connect_timeout_secs` is renamed `connect_timeout`",
        ));
    write_config(
        dir.path(),
        &source(
            "orders",
            &db.url(),
            "lock_wait_timeout = \"1min\"\nconnect_timeout = \"5s\"\n",
        ),
    );
    lifeboat(dir.path())
        .args(["backup", "orders"])
        .assert()
        .success()
        .stderr(contains("deprecated").not());
    write_config(
        dir.path(),
        &source(
            "orders",
            &db.url(),
            "connect_timeout_secs = 5\nconnect_timeout = \"5s\"\n",
        ),
    );
    lifeboat(dir.path())
        .arg("check")
        .assert()
        .code(2)
        .stderr(contains(
            "`connect_timeout_secs` is the old name of `connect_timeout`",
        ));
    // A bad option is a config error at load, before anything connects.
    write_config(
        dir.path(),
        &source("orders", &format!("{}?sslmode=verify", db.url()), ""),
    );
    lifeboat(dir.path())
        .arg("check")
        .assert()
        .code(2)
        .stderr(contains("unknown sslmode `verify`"));
}
