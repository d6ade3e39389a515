//! Restore drills through the real `lifeboat` binary, killed outright: the scratch
//! `redis-server` of a `verify --deep` killed with SIGKILL dies with it, it never answered a
//! client without its password, and the next drill stops the orphans a dead drill left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{lifeboat, write_config};
use lifeboat_testing::redis::TestRedis;

/// A private runtime folder for the drills' pidfiles (`XDG_RUNTIME_DIR`), so the test sees
/// only its own.
fn runtime_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn pidfiles(runtime: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(runtime.join("lifeboat")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("redis-") && name.ends_with(".json")
        })
        .collect()
}

/// Whether `pid` runs (a zombie waiting for its new parent to reap it does not).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next();
            !matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

fn start_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_owned()
}

/// A `redis-server` child of `parent` and the loopback port it answers on (its `--port`
/// argument: redis-server keeps its arguments in its title).
fn listening_redis_child(parent: u32) -> Option<(u32, u16)> {
    let tasks = std::fs::read_dir(format!("/proc/{parent}/task")).ok()?;
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if !comm.starts_with("redis") {
                continue;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let port = text
                .split_whitespace()
                .find_map(|w| w.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()))
                .or_else(|| {
                    let words: Vec<&str> = text.split_whitespace().collect();
                    let i = words.iter().position(|w| *w == "--port")?;
                    words.get(i + 1)?.parse().ok()
                })?;
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some((pid, port));
            }
        }
    }
    None
}

/// The first reply line of `command` sent without authentication.
fn unauthenticated(port: u16, command: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A backed-up Redis source big enough that its drill takes a while: 300 000 keys.
fn backed_up_source() -> Option<(TestRedis, tempfile::TempDir)> {
    let src = TestRedis::start_blocking(&["--enable-debug-command", "yes"])?;
    assert_eq!(src.cli(&["DEBUG", "POPULATE", "300000", "key", "64"]), "OK");
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &format!(
            "[[sources]]\nname = \"cache\"\nkind = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
            src.port()
        ),
    );
    lifeboat(dir.path())
        .args(["backup", "cache"])
        .assert()
        .success();
    Some((src, dir))
}

#[test]
fn a_killed_drill_takes_its_scratch_server_with_it_and_the_next_drill_cleans_up() {
    let Some((_src, dir)) = backed_up_source() else {
        return;
    };
    let runtime = runtime_dir();
    let mut drill = Command::new(assert_cmd::cargo::cargo_bin("lifeboat"))
        .current_dir(dir.path())
        .env_remove("LIFEBOAT_CONFIG")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .args(["verify", "cache", "--deep"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // The drill's scratch server: a redis-server child of the drill, once it listens.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (server, port) = loop {
        if let Some(found) = listening_redis_child(drill.id()) {
            break found;
        }
        assert!(
            drill.try_wait().unwrap().is_none(),
            "the drill ended before its server started"
        );
        assert!(Instant::now() < deadline, "no scratch server after 60 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    // A stranger on the port gets nothing (the issue's `redis-cli -p <port> get key:42`).
    let reply = unauthenticated(port, "GET key:42");
    assert!(reply.starts_with("-NOAUTH"), "{reply}");
    // Its pidfile names it and the drill.
    let pidfile = pidfiles(runtime.path()).pop().expect("a pidfile");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&pidfile).unwrap()).unwrap();
    assert_eq!(record["server"]["pid"], server);
    assert_eq!(record["port"], port);
    assert_eq!(record["owner"]["pid"], drill.id());

    assert!(
        drill.try_wait().unwrap().is_none(),
        "the drill must still be running when it is killed"
    );
    drill.kill().unwrap(); // SIGKILL
    drill.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(server) {
        assert!(
            Instant::now() < deadline,
            "the scratch redis-server {server} outlived its killed drill by 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    // The dead drill's pidfile is still there; the next drill removes it and passes.
    assert!(pidfile.exists());
    lifeboat(dir.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .args(["verify", "cache", "--deep"])
        .assert()
        .success();
    assert!(pidfiles(runtime.path()).is_empty());
}

#[test]
fn the_next_drill_stops_a_live_orphan_and_leaves_a_running_drills_server() {
    let Some((_src, dir)) = backed_up_source() else {
        return;
    };
    let runtime = runtime_dir();
    let folder = runtime.path().join("lifeboat");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Two redis-servers as dead and live drills would leave them: one whose owner is gone (an
    // orphan that somehow survived its drill), one whose owner runs (this test).
    let start = |owner_pid: u32, owner_start: u64| {
        let port = lifeboat_testing::free_port();
        let scratch = tempfile::Builder::new()
            .prefix("lifeboat-scratch-redis-")
            .tempdir()
            .unwrap()
            .keep();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--bind",
                "127.0.0.1",
            ])
            .arg("--dir")
            .arg(&scratch)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        let record = serde_json::json!({
            "server": { "pid": child.id(), "start_ticks": start_ticks(child.id()), "boot_id": boot_id() },
            "owner": { "pid": owner_pid, "start_ticks": owner_start, "boot_id": boot_id() },
            "port": port,
            "dir": scratch,
        });
        std::fs::write(
            folder.join(format!("redis-{}.json", child.id())),
            record.to_string(),
        )
        .unwrap();
        (child, scratch)
    };
    let me = std::process::id();
    let (mut orphan, orphan_dir) = start(4_000_000_000, 1);
    let (mut alive, alive_dir) = start(me, start_ticks(me));

    lifeboat(dir.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .args(["verify", "cache", "--deep"])
        .assert()
        .success();
    assert!(!orphan.wait().unwrap().success(), "the orphan was stopped");
    assert!(!orphan_dir.exists());
    assert!(
        alive.try_wait().unwrap().is_none(),
        "a live drill's server was stopped"
    );
    assert!(folder.join(format!("redis-{}.json", alive.id())).exists());
    alive.kill().unwrap();
    alive.wait().unwrap();
    let _ = std::fs::remove_dir_all(alive_dir);
}
