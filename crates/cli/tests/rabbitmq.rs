//! The `lifeboat` binary against the real RabbitMQ: backup, list, verify (and --deep), restore
//! with dry run and conflicts, messages, and the failures a user meets first (wrong password,
//! API unreachable, management plugin disabled), none of which may leave a manifest behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{lifeboat, list_json, list_json_env, write_config};
use serde_json::{json, Value};

const API: &str = "http://127.0.0.1:15672";

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A vhost of this test on the shared broker, deleted on drop (also when the test fails).
struct Vhost {
    name: String,
    client: reqwest::Client,
}

async fn vhost(test: &str) -> Option<Vhost> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let up = client
        .get(format!("{API}/api/overview"))
        .basic_auth("guest", Some("guest"))
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    if !up {
        lifeboat_testing::service_unavailable(format_args!(
            "{test}: RabbitMQ management API at {API} unreachable"
        ));
        return None;
    }
    let v = Vhost {
        name: format!("lbcli_{test}_{:06x}", rand::random::<u32>() & 0xff_ffff),
        client,
    };
    v.put("", json!({})).await;
    v.call(
        reqwest::Method::PUT,
        &format!("/api/permissions/{}/guest", enc(&v.name)),
        Some(json!({"configure": ".*", "write": ".*", "read": ".*"})),
    )
    .await;
    Some(v)
}

impl Vhost {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self
            .client
            .request(method.clone(), format!("{API}{path}"))
            .basic_auth("guest", Some("guest"));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(
            status.is_success() || (method == reqwest::Method::DELETE && status == 404),
            "{method} {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// PUT on an object of this vhost: `kind` e.g. `queues/q1` (empty: the vhost itself).
    async fn put(&self, kind: &str, body: Value) {
        let path = if kind.is_empty() {
            format!("/api/vhosts/{}", enc(&self.name))
        } else {
            let (k, name) = kind.split_once('/').unwrap();
            format!("/api/{k}/{}/{}", enc(&self.name), enc(name))
        };
        self.call(reqwest::Method::PUT, &path, Some(body)).await;
    }

    /// The vhost's definitions (`GET /api/definitions/<vhost>`), every section sorted, to
    /// compare before and after a restore that must change nothing.
    async fn definitions(&self) -> Value {
        let mut all = self
            .call(
                reqwest::Method::GET,
                &format!("/api/definitions/{}", enc(&self.name)),
                None,
            )
            .await;
        if let Some(map) = all.as_object_mut() {
            for section in map.values_mut() {
                if let Some(items) = section.as_array_mut() {
                    items.sort_by_key(|o| o.to_string());
                }
            }
        }
        all
    }

    async fn exists(&self, kind: &str, name: &str) -> bool {
        let path = format!("{API}/api/{kind}/{}/{}", enc(&self.name), enc(name));
        self.client
            .get(path)
            .basic_auth("guest", Some("guest"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    }

    async fn get(&self, kind: &str, name: &str) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("/api/{kind}/{}/{}", enc(&self.name), enc(name)),
            None,
        )
        .await
    }

    async fn delete_vhost(&self) {
        self.call(
            reqwest::Method::DELETE,
            &format!("/api/vhosts/{}", enc(&self.name)),
            None,
        )
        .await;
    }

    async fn grant_guest(&self) {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/permissions/{}/guest", enc(&self.name)),
            Some(json!({"configure": ".*", "write": ".*", "read": ".*"})),
        )
        .await;
    }

    /// Publishes through the management API (enough for a few messages).
    async fn publish(&self, queue: &str, payload: &str) {
        let r = self
            .call(
                reqwest::Method::POST,
                &format!("/api/exchanges/{}/amq.default/publish", enc(&self.name)),
                Some(json!({"properties": {"delivery_mode": 2, "headers": {"k": "v"}}, "routing_key": queue, "payload": payload, "payload_encoding": "string"})),
            )
            .await;
        assert_eq!(r["routed"], true);
    }

    /// The payloads in `queue`, in order, left in place.
    async fn peek(&self, queue: &str) -> Vec<String> {
        let r = self
            .call(
                reqwest::Method::POST,
                &format!("/api/queues/{}/{}/get", enc(&self.name), enc(queue)),
                Some(json!({"count": 1000, "ackmode": "ack_requeue_true", "encoding": "auto"})),
            )
            .await;
        r.as_array()
            .unwrap()
            .iter()
            .map(|m| m["payload"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let _ = reqwest::Client::new()
                    .delete(format!("{API}/api/vhosts/{}", enc(&name)))
                    .basic_auth("guest", Some("guest"))
                    .send()
                    .await;
            });
        })
        .join();
    }
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
    let Some(v) = vhost("rt").await else { return };
    v.put(
        "exchanges/events",
        json!({"type": "topic", "durable": true}),
    )
    .await;
    v.put(
        "queues/orders",
        json!({"durable": true, "arguments": {"x-max-length": 100}}),
    )
    .await;
    v.call(
        reqwest::Method::POST,
        &format!("/api/bindings/{}/e/events/q/orders", enc(&v.name)),
        Some(json!({"routing_key": "order.*"})),
    )
    .await;
    for i in 0..20 {
        v.publish("orders", &format!("order {i}")).await;
    }
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        "http://guest@127.0.0.1:15672",
        &format!(
            "password = \"${{RABBIT_PW}}\"\nvhosts = [\"{}\"]\nmessages = true\n",
            v.name
        ),
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
        v.peek("orders").await.len(),
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
    v.delete_vhost().await;
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
    v.grant_guest().await;
    assert_eq!(
        v.get("queues", "orders").await["arguments"]["x-max-length"],
        100
    );
    assert!(v.exists("exchanges", "events").await);
    let payloads = v.peek("orders").await;
    assert_eq!(
        payloads,
        (0..20).map(|i| format!("order {i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_conflicting_queue_is_refused_and_dry_run_shows_the_diff() {
    let Some(v) = vhost("conflict").await else {
        return;
    };
    v.put(
        "queues/orders",
        json!({"durable": true, "arguments": {"x-message-ttl": 1000}}),
    )
    .await;
    v.put(
        "exchanges/events",
        json!({"type": "fanout", "durable": true}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        "http://guest:guest@127.0.0.1:15672",
        &format!("vhosts = [\"{}\"]\n", v.name),
    );
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let (code, out) = run(&d, &["backup", "broker"]);
        assert_eq!(code, 0, "{out}");
    })
    .await
    .unwrap();
    v.call(
        reqwest::Method::DELETE,
        &format!("/api/queues/{}/orders", enc(&v.name)),
        None,
    )
    .await;
    v.put(
        "queues/orders",
        json!({"durable": true, "arguments": {"x-message-ttl": 5000}}),
    )
    .await;
    v.put("queues/extra", json!({"durable": true})).await;
    // The exchange is gone: a restore that went ahead would create it.
    v.call(
        reqwest::Method::DELETE,
        &format!("/api/exchanges/{}/events", enc(&v.name)),
        None,
    )
    .await;
    let before = v.definitions().await;

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
    assert_eq!(v.definitions().await, before, "--dry-run changed the vhost");

    let d = dir.path().to_path_buf();
    let refused = tokio::task::spawn_blocking(move || run(&d, &["restore", "broker"]))
        .await
        .unwrap();
    assert_eq!(refused.0, 1, "{}", refused.1);
    assert!(
        refused.1.contains(&format!("queue {}/orders", v.name)) && refused.1.contains("--force"),
        "{}",
        refused.1
    );
    // Nothing changed: not the conflicting queue, and the missing exchange was not created.
    assert_eq!(
        v.definitions().await,
        before,
        "a refused restore changed the vhost"
    );

    let d = dir.path().to_path_buf();
    let forced = tokio::task::spawn_blocking(move || run(&d, &["restore", "broker", "--force"]))
        .await
        .unwrap();
    assert_eq!(forced.0, 0, "{}", forced.1);
    assert_eq!(
        v.get("queues", "orders").await["arguments"]["x-message-ttl"],
        1000
    );
    assert!(v.exists("exchanges", "events").await);
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
    let cases: [(&str, &str, &str); 3] = [
        (
            "http://guest:not-the-password@127.0.0.1:15672",
            "",
            "wrong credentials for user `guest`",
        ),
        (
            "http://guest:not-the-password@127.0.0.1:1",
            "amqp_url = \"amqp://127.0.0.1:2\"\n",
            "unreachable",
        ),
        (
            "http://guest:not-the-password@127.0.0.1:1",
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
