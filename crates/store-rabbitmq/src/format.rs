//! The two dump formats ([`DumpFormat`]) and the lines of a messages dump.
//!
//! - `rabbitmq-definitions` (extension `json`): one definitions document, the shape of
//!   `GET /api/definitions` (the exact bytes the broker sent when the whole broker is backed
//!   up).
//! - `rabbitmq-definitions+messages` (extension `jsonl`): JSON lines:
//!   1. a [`Header`] (`{"type":"header","format":"lifeboat-rabbitmq/1",...}`);
//!   2. the definitions document on one line;
//!   3. one [`MessageRecord`] per message (`{"type":"message","vhost":..,"queue":..,"index":..,
//!      "redelivered":..,"exchange":..,"routing_key":..,"properties":{..},"payload":"<base64>"}`),
//!      grouped by queue, in queue order, `index` counting from 0 in each queue;
//!   4. a [`Trailer`] (`{"type":"trailer","messages":N,"queues":[..],"skipped":[..]}`) with the
//!      count of every queue, so a truncated dump is always detected.

use backup_core::Manifest;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{Malformed, RabbitmqError};
use crate::fields::Properties;

/// The definitions-only format.
pub const DEFINITIONS_FORMAT: &str = "rabbitmq-definitions";
/// The definitions-and-messages format.
pub const MESSAGES_FORMAT: &str = "rabbitmq-definitions+messages";
/// The `format` of a messages dump's header line.
pub const MESSAGES_HEADER_FORMAT: &str = "lifeboat-rabbitmq/1";

/// The dump formats of this store (the manifest's `dump_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// [`DEFINITIONS_FORMAT`]: the definitions document (`.json`).
    Definitions,
    /// [`MESSAGES_FORMAT`]: JSON lines of a header, the definitions, the messages and a
    /// trailer (`.jsonl`).
    Messages,
}

impl DumpFormat {
    /// Every format, in the order of [`crate::FORMATS`].
    pub const ALL: [DumpFormat; 2] = [DumpFormat::Definitions, DumpFormat::Messages];

    /// Its name in manifests.
    pub const fn name(self) -> &'static str {
        match self {
            DumpFormat::Definitions => DEFINITIONS_FORMAT,
            DumpFormat::Messages => MESSAGES_FORMAT,
        }
    }

    /// The extension of its data object.
    pub const fn extension(self) -> &'static str {
        match self {
            DumpFormat::Definitions => "json",
            DumpFormat::Messages => "jsonl",
        }
    }

    /// The format named `name`, if it is one of this store's.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The format of the backup `manifest` describes. The pipeline only hands a store the
    /// manifests of its own formats; a library caller may hand it anything.
    pub(crate) fn of(manifest: &Manifest) -> Result<Self, RabbitmqError> {
        Self::from_name(&manifest.dump_format).ok_or_else(|| RabbitmqError::WrongDumpFormat {
            found: manifest.dump_format.clone(),
        })
    }
}

/// The first line of a messages dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`MESSAGES_HEADER_FORMAT`].
    pub format: String,
    /// The broker's version.
    #[serde(default)]
    pub rabbitmq_version: Option<String>,
    /// The vhosts selected (`None`: the whole broker).
    #[serde(default)]
    pub vhosts: Option<Vec<String>>,
    /// The per-queue limit in force.
    pub max_messages_per_queue: u64,
}

/// One message line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessageRecord {
    pub vhost: String,
    pub queue: String,
    /// Position in the queue at backup time, from 0.
    pub index: u64,
    /// Whether the message had been delivered before the backup read it.
    pub redelivered: bool,
    /// The exchange it was originally published to.
    pub exchange: String,
    /// Its original routing key.
    pub routing_key: String,
    pub properties: Properties,
    /// The body, base64.
    pub payload: String,
}

impl MessageRecord {
    /// The decoded body.
    pub fn body(&self) -> Result<Vec<u8>, Malformed> {
        BASE64.decode(&self.payload).map_err(Malformed::Payload)
    }
}

/// The messages taken from one queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCount {
    /// The vhost.
    pub vhost: String,
    /// The queue.
    pub queue: String,
    /// Messages written.
    pub messages: u64,
    /// Messages the queue held when it was read (more than `messages` when the limit cut it).
    pub depth: u64,
}

/// A queue whose messages were not backed up, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The vhost.
    pub vhost: String,
    /// The queue.
    pub queue: String,
    /// Why, e.g. `has 2 consumers`.
    pub reason: String,
}

/// The last line of a messages dump.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trailer {
    /// Message lines in the dump.
    pub messages: u64,
    /// Per queue read.
    pub queues: Vec<QueueCount>,
    /// Queues not read.
    pub skipped: Vec<Skipped>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Line {
    Header(Header),
    Message(Box<MessageRecord>),
    Trailer(Trailer),
}

/// Serializes one line (with its `\n`).
pub(crate) fn line_bytes(line: &Line) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    let mut bytes = serde_json::to_vec(line).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A message record from what was read.
pub(crate) fn message_line(
    vhost: &str,
    queue: &str,
    index: u64,
    delivery: &lapin::message::Delivery,
) -> Vec<u8> {
    line_bytes(&Line::Message(Box::new(MessageRecord {
        vhost: vhost.to_string(),
        queue: queue.to_string(),
        index,
        redelivered: delivery.redelivered,
        exchange: delivery.exchange.as_str().to_string(),
        routing_key: delivery.routing_key.as_str().to_string(),
        properties: Properties::from_amqp(&delivery.properties),
        payload: BASE64.encode(&delivery.data),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_named_once() {
        let names: Vec<&str> = DumpFormat::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names, crate::FORMATS);
        for f in DumpFormat::ALL {
            assert_eq!(DumpFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(DumpFormat::from_name("redis-rdb"), None);
        let m = lifeboat_testing::manifest("rabbitmq", "redis-rdb", serde_json::Value::Null);
        assert!(matches!(
            DumpFormat::of(&m),
            Err(RabbitmqError::WrongDumpFormat { found }) if found == "redis-rdb"
        ));
    }
}
