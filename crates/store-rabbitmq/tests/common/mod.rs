//! Helpers for the integration tests: the shared test broker, a scope of vhosts and users
//! that is deleted when dropped (also when a test fails), AMQP publishing and draining.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::time::Duration;

use backup_core::{Artifact, BackupId, Manifest, SourceRef, MANIFEST_FORMAT};
use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{json, Value};

pub const API: &str = "http://127.0.0.1:15672";
pub const URL: &str = "http://guest:guest@127.0.0.1:15672";

/// A manifest as the pipeline would write it for this dump.
pub fn manifest(dump_format: &str, metadata: Value) -> Manifest {
    let now = time::OffsetDateTime::now_utc();
    Manifest {
        format: MANIFEST_FORMAT.to_string(),
        id: BackupId::new(now),
        source: SourceRef {
            name: "broker".to_string(),
            kind: "rabbitmq".to_string(),
        },
        started_at: now,
        finished_at: now,
        duration_ms: 0,
        host: "test-host".to_string(),
        tool_version: "lifeboat test".to_string(),
        dump_format: dump_format.to_string(),
        artifact: Artifact {
            key: "broker/x/data.json".to_string(),
            raw_bytes: 0,
            stored_bytes: 0,
            raw_sha256: String::new(),
            stored_sha256: String::new(),
        },
        transforms: Vec::new(),
        metadata,
        contains_password_hashes: false,
    }
}

pub fn enc(s: &str) -> String {
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

/// The objects a test created, deleted on drop.
pub struct Scope {
    pub prefix: String,
    client: reqwest::Client,
    pub vhosts: Vec<String>,
    pub users: Vec<String>,
}

/// The test broker, or `None` (with a notice) when it is unreachable and not required.
pub async fn broker(test: &str) -> Option<Scope> {
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
    let prefix = format!("lbtest_{}_{:06x}", test, rand::random::<u32>() & 0xff_ffff);
    Some(Scope {
        prefix,
        client,
        vhosts: Vec::new(),
        users: Vec::new(),
    })
}

impl Scope {
    pub fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut r = self
            .client
            .request(method, format!("{API}{path}"))
            .basic_auth("guest", Some("guest"));
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    pub async fn put(&self, path: &str, body: Value) {
        let r = self.request(reqwest::Method::PUT, path, Some(body)).await;
        let status = r.status();
        assert!(
            status.is_success(),
            "PUT {path}: {status} {}",
            r.text().await.unwrap()
        );
    }

    pub async fn post(&self, path: &str, body: Value) {
        let r = self.request(reqwest::Method::POST, path, Some(body)).await;
        let status = r.status();
        assert!(
            status.is_success(),
            "POST {path}: {status} {}",
            r.text().await.unwrap()
        );
    }

    pub async fn delete(&self, path: &str) {
        let r = self.request(reqwest::Method::DELETE, path, None).await;
        assert!(
            r.status().is_success() || r.status() == 404,
            "DELETE {path}: {}",
            r.status()
        );
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self.request(reqwest::Method::GET, path, None).await;
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn exists(&self, path: &str) -> bool {
        self.request(reqwest::Method::GET, path, None)
            .await
            .status()
            .is_success()
    }

    /// Creates a vhost (recorded for cleanup) and gives guest full permissions on it.
    pub async fn vhost(&mut self, suffix: &str) -> String {
        let v = self.name(suffix);
        self.vhosts.push(v.clone());
        self.put(
            &format!("/api/vhosts/{}", enc(&v)),
            json!({"description": "lifeboat test", "tags": "test"}),
        )
        .await;
        self.put(
            &format!("/api/permissions/{}/guest", enc(&v)),
            json!({"configure": ".*", "write": ".*", "read": ".*"}),
        )
        .await;
        v
    }

    /// Creates a user (recorded for cleanup).
    pub async fn user(&mut self, suffix: &str, tags: &str) -> String {
        let u = self.name(suffix);
        self.users.push(u.clone());
        self.put(
            &format!("/api/users/{}", enc(&u)),
            json!({"password": "pw-for-tests", "tags": tags}),
        )
        .await;
        u
    }

    /// Deletes this scope's vhosts and users now.
    pub async fn clean(&self) {
        for v in &self.vhosts {
            self.delete(&format!("/api/vhosts/{}", enc(v))).await;
        }
        for u in &self.users {
            self.delete(&format!("/api/users/{}", enc(u))).await;
        }
    }

    /// The definitions of this scope's vhosts and users, in a canonical order.
    pub async fn definitions(&self) -> Value {
        let all = self.get("/api/definitions").await;
        let mut out = serde_json::Map::new();
        for section in [
            "users",
            "vhosts",
            "permissions",
            "topic_permissions",
            "parameters",
            "policies",
            "queues",
            "exchanges",
            "bindings",
        ] {
            let mut items: Vec<Value> = all[section]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|o| {
                    let v = o
                        .get("vhost")
                        .or_else(|| (section == "vhosts").then(|| &o["name"]))
                        .and_then(Value::as_str);
                    match section {
                        "users" => o["name"].as_str().unwrap().starts_with(&self.prefix),
                        _ => v.is_some_and(|v| v.starts_with(&self.prefix)),
                    }
                })
                .collect();
            items.sort_by_key(|o| o.to_string());
            out.insert(section.to_string(), Value::Array(items));
        }
        Value::Object(out)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let vhosts = self.vhosts.clone();
        let users = self.users.clone();
        // Drop cannot await: clean up on a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let client = reqwest::Client::new();
                for v in vhosts {
                    let _ = client
                        .delete(format!("{API}/api/vhosts/{}", enc(&v)))
                        .basic_auth("guest", Some("guest"))
                        .send()
                        .await;
                }
                for u in users {
                    let _ = client
                        .delete(format!("{API}/api/users/{}", enc(&u)))
                        .basic_auth("guest", Some("guest"))
                        .send()
                        .await;
                }
            });
        })
        .join();
    }
}

pub async fn amqp(vhost: &str) -> Connection {
    Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:5672/{}", enc(vhost)),
        ConnectionProperties::default(),
    )
    .await
    .unwrap()
}

/// A message as the tests publish and compare it.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    pub payload: Vec<u8>,
    pub properties: BasicProperties,
}

/// Publishes `messages` to `queue` (default exchange) with confirms.
pub async fn publish(vhost: &str, queue: &str, messages: &[Msg]) {
    let conn = amqp(vhost).await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for m in messages {
        ch.basic_publish(
            "",
            queue,
            BasicPublishOptions::default(),
            &m.payload,
            m.properties.clone(),
        )
        .await
        .unwrap();
    }
    let returned = ch.wait_for_confirms().await.unwrap();
    assert!(returned.is_empty());
    conn.close(200, "ok").await.unwrap();
}

/// Takes `n` messages off `queue` (acknowledged: they are gone afterwards).
pub async fn drain(vhost: &str, queue: &str, n: usize) -> Vec<Msg> {
    let conn = amqp(vhost).await;
    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(1000, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = ch
        .basic_consume(
            queue,
            "drain",
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} messages in {queue}", out.len()))
            .unwrap()
            .unwrap();
        out.push(Msg {
            payload: d.data,
            properties: d.properties,
        });
    }
    conn.close(200, "ok").await.unwrap();
    out
}

/// Messages in `queue` right now (passive declare).
pub async fn depth(vhost: &str, queue: &str) -> u32 {
    let conn = amqp(vhost).await;
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            queue,
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    conn.close(200, "ok").await.unwrap();
    q.message_count()
}

/// Waits (up to 20 s) until `queue` holds `n` messages: requeued messages come back
/// asynchronously. Returns the last depth seen.
pub async fn wait_depth(vhost: &str, queue: &str, n: u32) -> u32 {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let d = depth(vhost, queue).await;
        if d == n || std::time::Instant::now() > deadline {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
