//! The RabbitMQ test broker (feature `rabbitmq`): [`TestBroker`], the vhosts and users of one
//! test under a random prefix on the shared broker, deleted when it is dropped (also when the
//! test fails); and AMQP publishing and reading ([`publish`], [`drain`], [`depth`]).
//!
//! The broker is the local one the tests run against: the management API at [`API`] and AMQP
//! on port 5672, as `guest`/`guest`. Several test runs share it, so every name a test creates
//! starts with its own random prefix.
//!
//! ```no_run
//! use lifeboat_testing::rabbitmq::{publish, Msg, TestBroker};
//!
//! # async fn example() {
//! let Some(mut broker) = TestBroker::connect("example").await else { return };
//! let vhost = broker.vhost("v").await; // guest may do anything there
//! broker.put(&broker.object_path("queues", &vhost, "q"), serde_json::json!({"durable": true})).await;
//! publish(&vhost, "q", &[Msg::persistent("hello")]).await;
//! # }
//! ```

use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use lifeboat_edge::percent::encode_component;
use serde_json::{json, Value};

/// The test broker's management API.
pub const API: &str = "http://127.0.0.1:15672";

/// The management API with guest's credentials, as a source's `url`.
pub const URL: &str = "http://guest:guest@127.0.0.1:15672";

/// The test broker's AMQP port.
pub const AMQP_PORT: u16 = 5672;

/// The sections of a definitions document that [`TestBroker::definitions`] compares.
const SECTIONS: &[&str] = &[
    "users",
    "vhosts",
    "permissions",
    "topic_permissions",
    "parameters",
    "policies",
    "queues",
    "exchanges",
    "bindings",
];

/// The vhosts and users of one test on the shared broker, deleted on drop.
pub struct TestBroker {
    prefix: String,
    client: reqwest::Client,
    vhosts: Vec<String>,
    users: Vec<String>,
}

impl TestBroker {
    /// The test broker for `test` (a short name, part of every name the test creates), or
    /// `None` when it is unreachable and not required ([`crate::service_unavailable`]).
    pub async fn connect(test: &str) -> Option<Self> {
        let client = client();
        let up = client
            .get(format!("{API}/api/overview"))
            .basic_auth("guest", Some("guest"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if !up {
            crate::service_unavailable(format_args!(
                "{test}: RabbitMQ management API at {API} unreachable"
            ));
            return None;
        }
        Some(Self {
            prefix: format!("lbtest_{test}_{:06x}", rand::random::<u32>() & 0xff_ffff),
            client,
            vhosts: Vec::new(),
            users: Vec::new(),
        })
    }

    /// The prefix of every name this test creates.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A name of this test: the prefix and `suffix`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }

    /// `/api/vhosts/<vhost>`.
    pub fn vhost_path(&self, vhost: &str) -> String {
        format!("/api/vhosts/{}", encode_component(vhost))
    }

    /// `/api/<kind>/<vhost>/<name>`: a queue, an exchange, a user's permissions...
    pub fn object_path(&self, kind: &str, vhost: &str, name: &str) -> String {
        format!(
            "/api/{kind}/{}/{}",
            encode_component(vhost),
            encode_component(name)
        )
    }

    /// A request to the management API as guest.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method.clone(), format!("{API}{path}"))
            .basic_auth("guest", Some("guest"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request that must succeed (a `DELETE` of something already gone counts): its JSON
    /// answer, or null.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let response = self.request(method.clone(), path, body).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let gone = method == reqwest::Method::DELETE && status == reqwest::StatusCode::NOT_FOUND;
        assert!(
            status.is_success() || gone,
            "{method} {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// `PUT path` with `body`.
    pub async fn put(&self, path: &str, body: Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await;
    }

    /// `POST path` with `body`: its answer.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// `DELETE path` (already gone is fine).
    pub async fn delete(&self, path: &str) {
        self.call(reqwest::Method::DELETE, path, None).await;
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Whether `GET path` succeeds.
    pub async fn exists(&self, path: &str) -> bool {
        self.request(reqwest::Method::GET, path, None)
            .await
            .status()
            .is_success()
    }

    /// Creates a vhost of this test (deleted on drop) and gives guest full permissions on it.
    pub async fn vhost(&mut self, suffix: &str) -> String {
        let vhost = self.name(suffix);
        self.vhosts.push(vhost.clone());
        self.put(
            &self.vhost_path(&vhost),
            json!({"description": "lifeboat test", "tags": "test"}),
        )
        .await;
        self.grant_guest(&vhost).await;
        vhost
    }

    /// Gives guest full permissions on `vhost` (a restore that creates a vhost does not).
    pub async fn grant_guest(&self, vhost: &str) {
        self.put(
            &self.object_path("permissions", vhost, "guest"),
            json!({"configure": ".*", "write": ".*", "read": ".*"}),
        )
        .await;
    }

    /// Creates a user of this test (deleted on drop) with password `pw-for-tests`.
    pub async fn user(&mut self, suffix: &str, tags: &str) -> String {
        let user = self.name(suffix);
        self.users.push(user.clone());
        self.put(
            &format!("/api/users/{}", encode_component(&user)),
            json!({"password": "pw-for-tests", "tags": tags}),
        )
        .await;
        user
    }

    /// Deletes this test's vhosts and users now (a restore test's "the broker lost them").
    pub async fn clean(&self) {
        for vhost in &self.vhosts {
            self.delete(&self.vhost_path(vhost)).await;
        }
        for user in &self.users {
            self.delete(&format!("/api/users/{}", encode_component(user)))
                .await;
        }
    }

    /// The definitions of this test's vhosts and users, every section sorted: equal before
    /// and after a restore that brought everything back, or one that must change nothing.
    pub async fn definitions(&self) -> Value {
        let all = self.get("/api/definitions").await;
        let mine = |section: &str, o: &Value| {
            let name = match section {
                "users" | "vhosts" => o.get("name"),
                _ => o.get("vhost"),
            };
            name.and_then(Value::as_str)
                .is_some_and(|n| n.starts_with(&self.prefix))
        };
        let mut out = serde_json::Map::new();
        for section in SECTIONS {
            let mut items: Vec<Value> = all
                .get(section)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|o| mine(section, o))
                .cloned()
                .collect();
            items.sort_by_key(|o| o.to_string());
            out.insert(section.to_string(), Value::Array(items));
        }
        Value::Object(out)
    }

    /// The messages of `queue` (up to 1000), as text, in order, left in place.
    pub async fn peek(&self, vhost: &str, queue: &str) -> Vec<String> {
        let path = format!("{}/get", self.object_path("queues", vhost, queue));
        let got = self
            .post(
                &path,
                json!({"count": 1000, "ackmode": "ack_requeue_true", "encoding": "auto"}),
            )
            .await;
        got.as_array()
            .into_iter()
            .flatten()
            .map(|m| m["payload"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let paths: Vec<String> = self
            .vhosts
            .iter()
            .map(|v| self.vhost_path(v))
            .chain(
                self.users
                    .iter()
                    .map(|u| format!("/api/users/{}", encode_component(u))),
            )
            .collect();
        // Drop cannot await, and may run inside a runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let client = client();
                for path in paths {
                    let _ = client
                        .delete(format!("{API}{path}"))
                        .basic_auth("guest", Some("guest"))
                        .send()
                        .await;
                }
            });
        })
        .join();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("HTTP client: {e}"))
}

/// An AMQP connection to `vhost` as guest.
pub async fn amqp(vhost: &str) -> Connection {
    let uri = format!(
        "amqp://guest:guest@127.0.0.1:{AMQP_PORT}/{}",
        encode_component(vhost)
    );
    Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("AMQP connection to vhost {vhost}: {e}"))
}

/// A message as the tests publish and compare it.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    /// The body.
    pub payload: Vec<u8>,
    /// Its properties (headers included).
    pub properties: BasicProperties,
}

impl Msg {
    /// A persistent message (delivery mode 2) with `payload` and no other property.
    pub fn persistent(payload: impl Into<Vec<u8>>) -> Self {
        Self {
            payload: payload.into(),
            properties: BasicProperties::default().with_delivery_mode(2),
        }
    }
}

/// Publishes `messages` to `queue` through the default exchange, with publisher confirms.
pub async fn publish(vhost: &str, queue: &str, messages: &[Msg]) {
    let connection = amqp(vhost).await;
    let channel = connection.create_channel().await.expect("channel.open");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    for m in messages {
        channel
            .basic_publish(
                "",
                queue,
                BasicPublishOptions::default(),
                &m.payload,
                m.properties.clone(),
            )
            .await
            .expect("basic.publish");
    }
    let returned = channel.wait_for_confirms().await.expect("confirms");
    assert!(returned.is_empty(), "messages to {queue} were returned");
    connection.close(200, "ok").await.expect("connection.close");
}

/// Takes `n` messages off `queue` (acknowledged: they are gone afterwards), in order.
pub async fn drain(vhost: &str, queue: &str, n: usize) -> Vec<Msg> {
    let connection = amqp(vhost).await;
    let channel = connection.create_channel().await.expect("channel.open");
    channel
        .basic_qos(1000, BasicQosOptions::default())
        .await
        .expect("basic.qos");
    let mut consumer = channel
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
        .expect("basic.consume");
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} messages in {queue}", out.len()))
            .expect("the consumer ended")
            .expect("a delivery");
        out.push(Msg {
            payload: delivery.data,
            properties: delivery.properties,
        });
    }
    connection.close(200, "ok").await.expect("connection.close");
    out
}

/// The messages in `queue` right now (a passive declare: exact, unlike the management API's
/// statistics).
pub async fn depth(vhost: &str, queue: &str) -> u32 {
    let connection = amqp(vhost).await;
    let channel = connection.create_channel().await.expect("channel.open");
    let declared = channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("queue {queue} in vhost {vhost}: {e}"));
    connection.close(200, "ok").await.expect("connection.close");
    declared.message_count()
}

/// Waits (up to 20 s) until `queue` holds `n` messages: requeued messages come back
/// asynchronously. Returns the last depth seen.
pub async fn wait_depth(vhost: &str, queue: &str, n: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = depth(vhost, queue).await;
        if d == n || Instant::now() > deadline {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_test_broker_publishes_reads_and_cleans_up_after_itself() {
        let Some(mut broker) = TestBroker::connect("harness").await else {
            return;
        };
        let vhost = broker.vhost("v").await;
        let user = broker.user("u", "").await;
        assert!(vhost.starts_with(broker.prefix()) && user.starts_with(broker.prefix()));
        let queue = broker.object_path("queues", &vhost, "q");
        broker.put(&queue, json!({"durable": true})).await;
        publish(&vhost, "q", &[Msg::persistent("a"), Msg::persistent("b")]).await;
        assert_eq!(wait_depth(&vhost, "q", 2).await, 2);
        assert_eq!(broker.peek(&vhost, "q").await, ["a", "b"]);
        let defs = broker.definitions().await;
        assert_eq!(defs["queues"].as_array().map(Vec::len), Some(1));
        assert_eq!(defs["users"][0]["name"], json!(user));
        let got = drain(&vhost, "q", 2).await;
        assert_eq!(got[1].payload, b"b");
        assert_eq!(depth(&vhost, "q").await, 0);

        let (vhost_path, user_path) = (
            broker.vhost_path(&vhost),
            format!("/api/users/{}", encode_component(&user)),
        );
        drop(broker);
        let Some(after) = TestBroker::connect("harness").await else {
            return;
        };
        assert!(!after.exists(&vhost_path).await, "{vhost_path} left behind");
        assert!(!after.exists(&user_path).await, "{user_path} left behind");
    }
}
