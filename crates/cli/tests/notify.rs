//! Notifications: webhook and Slack payloads, retries, undeliverable notifications counted and
//! never failing the backup; the webhook URL never appears in the output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::{lifeboat, make_db, write_config};
use predicates::str::contains;

#[derive(Clone, Default)]
struct Received {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    calls: Arc<AtomicUsize>,
}

/// A local server: `/ok` records, `/flaky` fails twice with 503 then records, `/broken`
/// always answers 500.
async fn server() -> (SocketAddr, Received) {
    let received = Received::default();
    let record = |State(r): State<Received>, Json(body): Json<serde_json::Value>| async move {
        r.calls.fetch_add(1, Ordering::SeqCst);
        r.bodies.lock().unwrap().push(body);
        StatusCode::OK
    };
    let flaky = |State(r): State<Received>, Json(body): Json<serde_json::Value>| async move {
        let call = r.calls.fetch_add(1, Ordering::SeqCst);
        if call < 2 {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        r.bodies.lock().unwrap().push(body);
        StatusCode::OK
    };
    let broken = |State(r): State<Received>| async move {
        r.calls.fetch_add(1, Ordering::SeqCst);
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let app = Router::new()
        .route("/ok", post(record))
        .route("/flaky", post(flaky))
        .route("/broken", post(broken))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

fn setup(notify: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 20);
    write_config(
        dir.path(),
        &format!(
            "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n\n\
             [[sources]]\nname = \"gone\"\nkind = \"sqlite\"\npath = \"missing.db\"\n\n{notify}"
        ),
    );
    dir
}

async fn run_backup(dir: &std::path::Path) -> std::process::Output {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || lifeboat(&dir).arg("backup").output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_and_slack_payloads() {
    let (addr, received) = server().await;
    let dir = setup(&format!(
        "[[notify]]\nkind = \"webhook\"\nurl = \"http://{addr}/ok\"\non = [\"failure\", \"success\"]\n\n\
         [[notify]]\nkind = \"slack\"\nurl = \"http://{addr}/ok\"\n"
    ));
    let out = run_backup(dir.path()).await;
    assert_eq!(out.status.code(), Some(3));
    let bodies = received.bodies.lock().unwrap().clone();
    // webhook: success of app, failure of gone; slack: failure of gone only.
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    let success = bodies
        .iter()
        .find(|b| b["event"] == "backup.success")
        .unwrap();
    assert_eq!(success["source"], "app");
    assert_eq!(success["kind"], "sqlite");
    assert!(success["backup_id"].as_str().unwrap().len() > 16);
    assert!(success["stored_bytes"].as_u64().unwrap() > 0);
    assert_eq!(success["storages"], serde_json::json!(["local"]));
    assert!(success["error"].is_null());
    let failure = bodies
        .iter()
        .find(|b| b["event"] == "backup.failure")
        .unwrap();
    assert_eq!(failure["source"], "gone");
    assert!(failure["error"].as_str().unwrap().contains("missing.db"));
    assert!(failure["backup_id"].is_null());
    let slack = bodies.iter().find(|b| b.get("text").is_some()).unwrap();
    assert!(slack["text"].as_str().unwrap().contains("backup of `gone`"));
    assert!(slack["text"].as_str().unwrap().contains("FAILED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_until_delivered() {
    let (addr, received) = server().await;
    let dir = setup(&format!(
        "[[notify]]\nkind = \"webhook\"\nurl = \"http://{addr}/flaky\"\nretries = 3\n"
    ));
    let out = run_backup(dir.path()).await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(received.calls.load(Ordering::SeqCst), 3);
    assert_eq!(received.bodies.lock().unwrap().len(), 1);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("could not be delivered"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undeliverable_notification_never_fails_the_backup() {
    let (addr, received) = server().await;
    // One endpoint that always fails, one that is not even listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 20);
    write_config(
        dir.path(),
        &format!(
            "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n\n\
             [[notify]]\nkind = \"webhook\"\nurl = \"http://{addr}/broken?token=s3cr3t-token\"\non = [\"success\"]\nretries = 2\n\n\
             [[notify]]\nkind = \"slack\"\nurl = \"http://{closed}/hooks/s3cr3t-token\"\non = [\"success\"]\nretries = 1\ntimeout_seconds = 2\n"
        ),
    );
    let out = run_backup(dir.path()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        received.calls.load(Ordering::SeqCst),
        3,
        "1 attempt + 2 retries"
    );
    assert!(
        stderr.contains("2 notification(s) could not be delivered"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 500"), "{stderr}");
    assert!(
        !stderr.contains("s3cr3t-token"),
        "the webhook URL leaked: {stderr}"
    );
    lifeboat(dir.path())
        .arg("list")
        .assert()
        .success()
        .stdout(contains("app"));
}
