//! `lifeboat daemon`: runs per-second schedules, serves metrics that match what happened, and a
//! SIGTERM in the middle of a backup leaves no manifest for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{list_json, make_db, write_config};
use lifeboat_testing::free_port;

fn start(dir: &Path, port: u16) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("lifeboat"))
        .current_dir(dir)
        .env_remove("LIFEBOAT_CONFIG")
        .args(["daemon", "--listen", &format!("127.0.0.1:{port}")])
        .spawn()
        .unwrap()
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let response = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// The value of `name{source="app"}` in OpenMetrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{source=\"app\"}}")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_the_schedule_and_serves_matching_metrics() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 50);
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\nschedule = \"* * * * * *\"\n",
    );
    let port = free_port();
    let mut child = start(dir.path(), port);

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut metrics = String::new();
    loop {
        if let Some((200, text)) = get(port, "/metrics").await {
            if sample(&text, "lifeboat_backup_success_total").unwrap_or(0.0) >= 2.0 {
                metrics = text;
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no two backups within 20 s: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(port, "/healthz").await.unwrap().0, 200);
    assert_eq!(get(port, "/readyz").await.unwrap().0, 200);
    assert!(metrics.trim_end().ends_with("# EOF"));
    assert_eq!(
        sample(&metrics, "lifeboat_backup_failure_total").unwrap_or(0.0),
        0.0
    );
    assert!(sample(&metrics, "lifeboat_backup_size_bytes").unwrap() > 0.0);
    assert!(sample(&metrics, "lifeboat_backup_last_success_timestamp_seconds").unwrap() > 1.7e9);
    let counted = sample(&metrics, "lifeboat_backup_success_total").unwrap() as usize;

    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    // Every counted backup exists (one more may have finished before SIGTERM arrived).
    let made = list_json(dir.path(), &[]).len();
    assert!(
        made == counted || made == counted + 1,
        "{made} backups, {counted} counted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_backup_leaves_no_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // 48 MiB of noise through zstd level 19: a backup that takes seconds.
    let noise: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761).rotate_left(7) >> 3) as u8)
        .collect();
    std::fs::write(data.join("big.bin"), noise).unwrap();
    write_config(
        dir.path(),
        "[compression]\nalgorithm = \"zstd\"\nlevel = 19\n\n[daemon]\nshutdown_grace_seconds = 0\n\n\
         [[sources]]\nname = \"big\"\nkind = \"files\"\npaths = [\"data\"]\nschedule = \"* * * * * *\"\n",
    );
    let port = free_port();
    let mut child = start(dir.path(), port);
    // Wait until a backup is under way: it holds the source's lock.
    let lock = dir.path().join("backups/big/lock.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lock.exists() {
        assert!(Instant::now() < deadline, "no backup started within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");

    assert!(
        list_json(dir.path(), &[]).is_empty(),
        "the aborted backup was listed"
    );
    let manifests = walk(&dir.path().join("backups"))
        .into_iter()
        .filter(|p| p.ends_with("manifest.json"))
        .count();
    assert_eq!(manifests, 0);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_config() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 10);
    let source = "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n";
    write_config(dir.path(), source);
    let port = free_port();
    let mut child = start(dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(port, "/readyz").await.map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "the daemon never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // No schedule yet: nothing runs. Add one and send SIGHUP.
    write_config(dir.path(), &format!("{source}schedule = \"* * * * * *\"\n"));
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    loop {
        let text = get(port, "/metrics").await.map(|r| r.1).unwrap_or_default();
        if sample(&text, "lifeboat_backup_success_total").unwrap_or(0.0) >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the reloaded schedule never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(terminate(&mut child).success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_prune_after_backup_logs_and_prints_nothing() {
    // The daemon used to print the prune plan's table on its stdout after each backup.
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 20);
    write_config(
        dir.path(),
        "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n\
         schedule = \"* * * * * *\"\nprune = \"after-backup\"\nretention = { keep_last = 1 }\n",
    );
    let port = free_port();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("lifeboat"))
        .current_dir(dir.path())
        .env_remove("LIFEBOAT_CONFIG")
        .args(["daemon", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = get(port, "/metrics")
            .await
            .map(|(_, t)| t)
            .unwrap_or_default();
        if sample(&text, "lifeboat_backup_success_total").unwrap_or(0.0) >= 3.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no three backups within 20 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.is_empty(), "the daemon printed: {stdout}");
    assert!(stderr.contains("pruned after the backup"), "{stderr}");
    // keep_last = 1: at most the newest and one that finished during shutdown remain.
    assert!(list_json(dir.path(), &[]).len() <= 2);
}
