//! The redis store through the real `lifeboat` binary, against private `redis-server`s:
//! backup / verify / verify --deep / restore, refusals, failures (exit 1, no manifest),
//! the SYNC-refused fallback and a consistent snapshot under a concurrent writer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{lifeboat, list_json, list_json_env, write_config};
use lifeboat_testing::free_port;
use lifeboat_testing::redis::TestRedis;
use predicates::str::contains;

/// A private redis-server (`--repl-diskless-sync-delay 0` and the test's arguments).
fn server(extra: &[&str]) -> Option<TestRedis> {
    TestRedis::start_blocking(extra)
}

fn source_config(dir: &Path, url: &str, extra: &str) {
    write_config(
        dir,
        &format!("[[sources]]\nname = \"cache\"\nkind = \"redis\"\nurl = \"{url}\"\n{extra}"),
    );
}

/// The manifest of a `list --json` entry, read from the fs storage.
fn manifest_of(dir: &Path, listed: &serde_json::Value) -> serde_json::Value {
    let path = dir
        .join("backups")
        .join(listed["source"].as_str().unwrap())
        .join(listed["id"].as_str().unwrap())
        .join("manifest.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn fill(server: &TestRedis) {
    let mut cmds = String::new();
    for i in 0..300 {
        cmds.push_str(&format!("SET key:{i} value-{i}\n"));
    }
    cmds.push_str("HSET h a 1 b 2\nRPUSH l x y z\nSADD s 1 2 3\nZADD z 1 a 2 b\n");
    cmds.push_str("XADD st * f v\nXGROUP CREATE st g 0\nSET t v EX 10000\n");
    cmds.push_str("SELECT 2\nSET other 1\nSET other2 2\n");
    server.pipe(&cmds);
}

#[test]
fn backup_verify_deep_and_restore_with_password_from_env() {
    let Some(src) = server(&["--requirepass", "s3cret-pw"]) else {
        return;
    };
    fill(&src);
    let dir = tempfile::tempdir().unwrap();
    source_config(
        dir.path(),
        &format!("redis://127.0.0.1:{}", src.port()),
        "password = \"${REDIS_PW}\"\n",
    );
    lifeboat(dir.path())
        .env("REDIS_PW", "s3cret-pw")
        .args(["backup", "cache"])
        .assert()
        .success();
    let listed = list_json_env(dir.path(), &[], &[("REDIS_PW", "s3cret-pw")]);
    assert_eq!(listed.len(), 1);
    let text = serde_json::to_string(&manifest_of(dir.path(), &listed[0])).unwrap();
    assert!(!text.contains("s3cret"), "a secret in the manifest: {text}");
    let meta = &manifest_of(dir.path(), &listed[0])["metadata"];
    assert_eq!(meta["keys"], 308, "{meta}");
    assert_eq!(meta["keys_per_db"]["2"], 2);
    assert_eq!(meta["point_in_time"], true);
    assert_eq!(listed[0]["dump_format"], "rdb");

    lifeboat(dir.path())
        .env("REDIS_PW", "s3cret-pw")
        .args(["verify", "cache"])
        .assert()
        .success();
    lifeboat(dir.path())
        .env("REDIS_PW", "s3cret-pw")
        .args(["verify", "cache", "--deep"])
        .assert()
        .success()
        .stdout(contains("restore drill"));

    // Into a fresh server.
    let dst = server(&[]).unwrap();
    lifeboat(dir.path())
        .env("REDIS_PW", "s3cret-pw")
        .args([
            "restore",
            "cache",
            "--to",
            &format!("redis://127.0.0.1:{}", dst.port()),
        ])
        .assert()
        .success();
    assert_eq!(dst.cli(&["DBSIZE"]), "306");
    assert_eq!(dst.cli(&["GET", "key:42"]), "value-42");
    assert_eq!(dst.cli(&["-n", "2", "GET", "other2"]), "2");
    let ttl: i64 = dst.cli(&["TTL", "t"]).parse().unwrap();
    assert!((9990..=10000).contains(&ttl), "ttl {ttl}");

    // Into the non-empty source without --force: refused, unchanged.
    src.cli(&["SET", "key:1", "changed"]);
    lifeboat(dir.path())
        .env("REDIS_PW", "s3cret-pw")
        .args(["restore", "cache"])
        .assert()
        .code(1)
        .stderr(contains("not empty"));
    assert_eq!(src.cli(&["GET", "key:1"]), "changed");
    // With --force the backup's value comes back.
    lifeboat(dir.path())
        .env("REDIS_PW", "s3cret-pw")
        .args(["restore", "cache", "--force"])
        .assert()
        .success();
    assert_eq!(src.cli(&["GET", "key:1"]), "value-1");
}

/// Runs `backup cache`, expects exit 1 with `message` on stderr and no manifest; returns
/// stderr.
fn assert_fails_without_manifest(dir: &Path, env: &[(&str, &str)], message: &str) -> String {
    let mut cmd = lifeboat(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["backup", "cache"])
        .assert()
        .code(1)
        .stderr(contains(message));
    assert!(list_json(dir, &[]).is_empty(), "a manifest was written");
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

#[test]
fn wrong_password_unreachable_and_killed_transfer_fail() {
    let Some(src) = server(&[
        "--requirepass",
        "right-pw-zq9",
        "--rdb-key-save-delay",
        "20000",
    ]) else {
        return;
    };
    fill(&src);
    // 1 KiB incompressible values (LZF would shrink repeated bytes to a few), so the
    // snapshot streams out in several chunks (the server's pipe buffer is 16 KiB) and the kill
    // below lands after some bytes arrived, not before the first.
    let mut cmds = String::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in 0..300 {
        let value: String = (0..1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        cmds.push_str(&format!("SET big:{i} {value}\n"));
    }
    src.pipe(&cmds);
    let dir = tempfile::tempdir().unwrap();

    source_config(
        dir.path(),
        &format!("redis://:bad-pw-zq7@127.0.0.1:{}", src.port()),
        "",
    );
    let stderr = assert_fails_without_manifest(dir.path(), &[], "authentication failed");
    assert!(
        !stderr.contains("bad-pw-zq7"),
        "the password leaked: {stderr}"
    );

    source_config(
        dir.path(),
        &format!("redis://127.0.0.1:{}", free_port()),
        "connect_timeout = \"2s\"\n",
    );
    assert_fails_without_manifest(dir.path(), &[], "connect");
    // The old name of connect_timeout still works, with a deprecation warning; both names
    // are a config error.
    let unreachable = format!("redis://127.0.0.1:{}", free_port());
    source_config(dir.path(), &unreachable, "connect_timeout_secs = 2\n");
    let stderr = assert_fails_without_manifest(dir.path(), &[], "connect");
    assert!(
        stderr.contains("deprecated") && stderr.contains("`connect_timeout_secs` is renamed"),
        "{stderr}"
    );
    source_config(
        dir.path(),
        &unreachable,
        "connect_timeout_secs = 2\nconnect_timeout = \"2s\"\n",
    );
    lifeboat(dir.path())
        .args(["backup", "cache"])
        .assert()
        .code(2)
        .stderr(contains("set only `connect_timeout`"));

    // 600+ keys at 20 ms each: the snapshot takes 12 s; kill the replica connection.
    source_config(
        dir.path(),
        &format!("redis://:right-pw-zq9@127.0.0.1:{}", src.port()),
        "",
    );
    let killer = {
        let port = src.port();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            Command::new("redis-cli")
                .args(["-p", &port.to_string(), "CLIENT", "KILL", "TYPE", "replica"])
                .env("REDISCLI_AUTH", "right-pw-zq9")
                .output()
                .unwrap()
        })
    };
    let stderr = assert_fails_without_manifest(dir.path(), &[], "broke off after");
    // Killed mid-transfer: part of the snapshot had arrived (and was streamed into the
    // pipeline) when the connection went.
    assert!(!stderr.contains("after 0 bytes"), "{stderr}");
    assert!(
        !stderr.contains("right-pw-zq9"),
        "the password leaked: {stderr}"
    );
    let out = killer.join().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
}

#[test]
fn sync_refused_suggests_logical_and_fallback_takes_a_logical_backup() {
    let Some(src) = server(&[]) else {
        return;
    };
    fill(&src);
    src.cli(&[
        "ACL", "SETUSER", "nosync", "on", ">pw", "~*", "+@all", "-sync", "-psync",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis://nosync:pw@127.0.0.1:{}", src.port());
    source_config(dir.path(), &url, "");
    assert_fails_without_manifest(dir.path(), &[], "mode = \"logical\"");

    source_config(dir.path(), &url, "fallback = \"logical\"\n");
    lifeboat(dir.path())
        .args(["backup", "cache"])
        .assert()
        .success();
    let listed = list_json(dir.path(), &[]);
    // Still an RDB file (assembled from DUMP payloads), but not point-in-time.
    assert_eq!(listed[0]["dump_format"], "rdb");
    let meta = &manifest_of(dir.path(), &listed[0])["metadata"];
    assert_eq!(meta["fallback_from"], "rdb");
    assert_eq!(meta["point_in_time"], false);
    assert_eq!(meta["keys"], 308);
    lifeboat(dir.path())
        .args(["verify", "cache", "--deep"])
        .assert()
        .success();

    // Logical mode explicitly; verify --deep and a restore into a fresh server.
    source_config(dir.path(), &url, "mode = \"logical\"\n");
    lifeboat(dir.path())
        .args(["backup", "cache"])
        .assert()
        .success();
    assert_eq!(
        list_json(dir.path(), &[])[0]["dump_format"],
        "redis-logical"
    );
    lifeboat(dir.path())
        .args(["verify", "cache", "--deep"])
        .assert()
        .success();
    let dst = server(&[]).unwrap();
    lifeboat(dir.path())
        .args([
            "restore",
            "cache",
            "--to",
            &format!("redis://127.0.0.1:{}", dst.port()),
        ])
        .assert()
        .success();
    assert_eq!(dst.cli(&["DBSIZE"]), "306");
    assert_eq!(
        dst.cli(&["XINFO", "GROUPS", "st"]).lines().nth(1),
        Some("g")
    );
}

#[test]
fn rdb_backup_is_one_point_in_time_under_a_writer() {
    let Some(src) = server(&["--rdb-key-save-delay", "2000"]) else {
        return;
    };
    // Filler keys make the snapshot take a while (2 ms each).
    let mut cmds = String::new();
    for i in 0..500 {
        cmds.push_str(&format!("SET filler:{i} x\n"));
    }
    src.pipe(&cmds);
    let stop = Arc::new(AtomicBool::new(false));
    // Transactions completed so far.
    let done = Arc::new(AtomicU64::new(0));
    let writer = {
        let stop = stop.clone();
        let done = done.clone();
        let port = src.port();
        std::thread::spawn(move || {
            let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut w = stream;
            let mut line = String::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                w.write_all(b"MULTI\r\nINCR counter\r\nRPUSH list x\r\nEXEC\r\n")
                    .unwrap();
                // +OK, +QUEUED, +QUEUED, *2, :a, :b
                for _ in 0..6 {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                }
                n += 1;
                done.store(n, Ordering::SeqCst);
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let dir = tempfile::tempdir().unwrap();
    source_config(dir.path(), &format!("redis://127.0.0.1:{}", src.port()), "");
    let before = done.load(Ordering::SeqCst);
    lifeboat(dir.path())
        .args(["backup", "cache"])
        .assert()
        .success();
    let after = done.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let total = writer.join().unwrap();

    let dst = server(&[]).unwrap();
    lifeboat(dir.path())
        .args([
            "restore",
            "cache",
            "--to",
            &format!("redis://127.0.0.1:{}", dst.port()),
        ])
        .assert()
        .success();
    let counter: u64 = dst.cli(&["GET", "counter"]).parse().unwrap();
    let len: u64 = dst.cli(&["LLEN", "list"]).parse().unwrap();
    assert_eq!(counter, len, "the snapshot is not one point in time");
    // The snapshot was taken during this backup (not before it started), and the writer kept
    // committing after that point while the backup ran, i.e. during the ~1 s transfer.
    assert!(
        before <= counter && counter < after && after <= total,
        "writes before the backup {before}, in the snapshot {counter}, when it ended {after}"
    );
}
