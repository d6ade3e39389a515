//! The `lifeboat` binary against the real RabbitMQ: backup, list, verify (and --deep), restore
//! with dry run and conflicts, messages, and the failures a user meets first (wrong password,
//! API unreachable, management plugin disabled), none of which may leave a manifest behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{lifeboat, list_json, list_json_env, write_config};
use lifeboat_edge::percent::encode_component;
use lifeboat_testing::free_port;
use lifeboat_testing::rabbitmq::{publish, Msg, TestBroker};
use serde_json::{json, Value};

/// The test broker with one vhost of this test (guest may do anything there), deleted on
/// drop, also when the test fails.
async fn broker(test: &str) -> Option<(TestBroker, String)> {
    let mut broker = TestBroker::connect(test).await?;
    let vhost = broker.vhost("v").await;
    Some((broker, vhost))
}

fn config(dir: &Path, url: &str, extra: &str) {
    write_config(
        dir,
        &format!("[[sources]]\nname = \"broker\"\nkind = \"rabbitmq\"\nurl = \"{url}\"\n{extra}"),
    );
}

/// Runs lifeboat (blocking) and returns (exit code, stdout + stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = lifeboat(dir).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn backup_verify_restore_with_messages_through_the_cli() {
    let Some((b, v)) = broker("rt").await else {
        return;
    };
    b.put(
        &b.object_path("exchanges", &v, "events"),
        json!({"type": "topic", "durable": true}),
    )
    .await;
    b.put(
        &b.object_path("queues", &v, "orders"),
        json!({"durable": true, "arguments": {"x-max-length": 100}}),
    )
    .await;
    b.post(
        &format!("/api/bindings/{}/e/events/q/orders", encode_component(&v)),
        json!({"routing_key": "order.*"}),
    )
    .await;
    let orders: Vec<Msg> = (0..20)
        .map(|i| Msg::persistent(format!("order {i}")))
        .collect();
    publish(&v, "orders", &orders).await;
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        "http://guest@127.0.0.1:15672",
        &format!("password = \"${{RABBIT_PW}}\"\nvhosts = [\"{v}\"]\nmessages = true\n"),
    );
    let d = dir.path().to_path_buf();
    let (code, out) = tokio::task::spawn_blocking(move || {
        let mut cmd = lifeboat(&d);
        let o = cmd
            .env("RABBIT_PW", "guest")
            .args(["backup", "broker"])
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("password hashes"),
        "no warning about password hashes: {out}"
    );
    let listed = list_json_env(dir.path(), &[], &[("RABBIT_PW", "guest")]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["dump_format"], "rabbitmq-definitions+messages");
    let key = listed[0]["artifact_key"].as_str().unwrap();
    let manifest_path = dir
        .path()
        .join("backups")
        .join(key)
        .with_file_name("manifest.json");
    let manifest_text = std::fs::read_to_string(manifest_path).unwrap();
    let manifest: Value = serde_json::from_str(&manifest_text).unwrap();
    let meta = &manifest["metadata"];
    assert_eq!(meta["contains_password_hashes"], true);
    assert_eq!(meta["counts"]["queues"], 1);
    assert_eq!(meta["messages"]["total"], 20);
    assert!(
        !manifest_text.contains("guest:guest")
            && !manifest_text.contains("rabbit_password_hashing")
    );
    assert_eq!(
        b.peek(&v, "orders").await.len(),
        20,
        "the backup took messages away"
    );

    let d = dir.path().to_path_buf();
    let (code, out) = tokio::task::spawn_blocking(move || {
        let out = lifeboat(&d)
            .env("RABBIT_PW", "guest")
            .args(["verify", "broker"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let o = lifeboat(&d)
            .env("RABBIT_PW", "guest")
            .args(["verify", "broker", "--deep"])
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");

    // Restore into a broker without the vhost: topology and messages come back in order.
    b.delete(&b.vhost_path(&v)).await;
    let d = dir.path().to_path_buf();
    let (code, out) = tokio::task::spawn_blocking(move || {
        let o = lifeboat(&d)
            .env("RABBIT_PW", "guest")
            .args(["restore", "broker", "--to", "http://127.0.0.1:15672"])
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("20 message(s) republished"), "{out}");
    assert!(
        out.contains("http://guest@127.0.0.1:15672"),
        "the --to target is not named: {out}"
    );
    b.grant_guest(&v).await;
    assert_eq!(
        b.get(&b.object_path("queues", &v, "orders")).await["arguments"]["x-max-length"],
        100
    );
    assert!(b.exists(&b.object_path("exchanges", &v, "events")).await);
    let payloads = b.peek(&v, "orders").await;
    assert_eq!(
        payloads,
        (0..20).map(|i| format!("order {i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_conflicting_queue_is_refused_and_dry_run_shows_the_diff() {
    let Some((b, v)) = broker("conflict").await else {
        return;
    };
    let (orders, events) = (
        b.object_path("queues", &v, "orders"),
        b.object_path("exchanges", &v, "events"),
    );
    b.put(
        &orders,
        json!({"durable": true, "arguments": {"x-message-ttl": 1000}}),
    )
    .await;
    b.put(&events, json!({"type": "fanout", "durable": true}))
        .await;
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        "http://guest:guest@127.0.0.1:15672",
        &format!("vhosts = [\"{v}\"]\n"),
    );
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let (code, out) = run(&d, &["backup", "broker"]);
        assert_eq!(code, 0, "{out}");
    })
    .await
    .unwrap();
    b.delete(&orders).await;
    b.put(
        &orders,
        json!({"durable": true, "arguments": {"x-message-ttl": 5000}}),
    )
    .await;
    b.put(
        &b.object_path("queues", &v, "extra"),
        json!({"durable": true}),
    )
    .await;
    // The exchange is gone: a restore that went ahead would create it.
    b.delete(&events).await;
    let before = b.definitions().await;

    let d = dir.path().to_path_buf();
    let dry = tokio::task::spawn_blocking(move || run(&d, &["restore", "broker", "--dry-run"]))
        .await
        .unwrap();
    assert_eq!(dry.0, 0, "{}", dry.1);
    assert!(
        dry.1.contains("conflict") && dry.1.contains("x-message-ttl"),
        "{}",
        dry.1
    );
    assert!(dry.1.contains("+ create: exchange"), "{}", dry.1);
    assert_eq!(b.definitions().await, before, "--dry-run changed the vhost");

    let d = dir.path().to_path_buf();
    let refused = tokio::task::spawn_blocking(move || run(&d, &["restore", "broker"]))
        .await
        .unwrap();
    assert_eq!(refused.0, 1, "{}", refused.1);
    assert!(
        refused.1.contains(&format!("queue {v}/orders")) && refused.1.contains("--force"),
        "{}",
        refused.1
    );
    // Nothing changed: not the conflicting queue, and the missing exchange was not created.
    assert_eq!(
        b.definitions().await,
        before,
        "a refused restore changed the vhost"
    );

    let d = dir.path().to_path_buf();
    let forced = tokio::task::spawn_blocking(move || run(&d, &["restore", "broker", "--force"]))
        .await
        .unwrap();
    assert_eq!(forced.0, 0, "{}", forced.1);
    assert_eq!(b.get(&orders).await["arguments"]["x-message-ttl"], 1000);
    assert!(b.exists(&events).await);
}

#[test]
fn failures_are_clear_and_leave_no_manifest() {
    // These need no vhost of their own: they never get past the login or the connection.
    let up = std::net::TcpStream::connect("127.0.0.1:15672").is_ok();
    if !up {
        lifeboat_testing::service_unavailable(
            "failures_are_clear_and_leave_no_manifest: RabbitMQ unreachable",
        );
        return;
    }
    // Nothing listens on these ports.
    let nothing = format!("http://guest:not-the-password@127.0.0.1:{}", free_port());
    let no_amqp = format!("amqp_url = \"amqp://127.0.0.1:{}\"\n", free_port());
    let cases: [(&str, &str, &str); 3] = [
        (
            "http://guest:not-the-password@127.0.0.1:15672",
            "",
            "wrong credentials for user `guest`",
        ),
        (&nothing, &no_amqp, "unreachable"),
        (
            &nothing,
            "amqp_url = \"amqp://127.0.0.1:5672\"\n",
            "rabbitmq-plugins enable rabbitmq_management",
        ),
    ];
    for (url, extra, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        config(dir.path(), url, extra);
        let (code, out) = run(dir.path(), &["backup", "broker"]);
        assert_eq!(code, 1, "{url}: {out}");
        assert!(
            out.contains(expected),
            "{url}: expected `{expected}` in: {out}"
        );
        assert!(
            !out.contains("not-the-password"),
            "the password leaked: {out}"
        );
        assert!(
            list_json(dir.path(), &[]).is_empty(),
            "a failed backup left a manifest"
        );
        let (code, out) = run(dir.path(), &["check"]);
        assert_ne!(code, 0, "{out}");
        assert!(
            out.contains(expected),
            "check: expected `{expected}` in: {out}"
        );
    }
}
