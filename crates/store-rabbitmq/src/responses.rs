//! The bodies of the management API responses lifeboat reads, as typed structs (every field
//! defaulted: brokers of other versions leave some out). Definitions documents are not here:
//! they are streamed ([`crate::definitions`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::metadata::BrokerInfo;

/// `GET /api/overview`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Overview {
    /// Versions and cluster name.
    #[serde(flatten)]
    pub broker: BrokerInfo,
    #[serde(default)]
    pub object_totals: Option<ObjectTotals>,
    #[serde(default)]
    pub queue_totals: QueueTotals,
}

/// The broker's object counts (`object_totals`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ObjectTotals {
    #[serde(default)]
    pub queues: u64,
    #[serde(default)]
    pub exchanges: u64,
    /// Connections, channels, consumers...: shown in `lifeboat check` as they are.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The broker's message counts (`queue_totals`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct QueueTotals {
    #[serde(default)]
    pub messages: u64,
}

/// `GET /api/whoami`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct WhoAmI {
    #[serde(default)]
    pub tags: Tags,
}

/// A user's tags: a list (3.9 and later) or a comma-separated text (older brokers).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Tags {
    List(Vec<Value>),
    Text(String),
}

impl Default for Tags {
    fn default() -> Self {
        Tags::List(Vec::new())
    }
}

impl Tags {
    /// The tags, one by one.
    pub fn names(&self) -> Vec<String> {
        match self {
            Tags::List(list) => list
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Tags::Text(text) => text.split(',').map(|t| t.trim().to_string()).collect(),
        }
    }
}

/// `GET /api/queues/<vhost>/<name>`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct QueueStats {
    #[serde(default)]
    pub messages: u64,
}

/// The body of an error response: `{"error":"not_authorized","reason":"Login failed"}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub reason: Option<Value>,
}

/// The `reason` the management API gives for a refused login.
pub(crate) const LOGIN_FAILED: &str = "Login failed";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn overviews_and_tags_of_any_version_read() {
        let o: Overview = serde_json::from_value(json!({
            "rabbitmq_version": "3.10.8", "cluster_name": "rabbit@vm",
            "object_totals": {"queues": 3, "exchanges": 7, "connections": 1},
            "queue_totals": {}
        }))
        .unwrap();
        assert_eq!(o.broker.rabbitmq_version.as_deref(), Some("3.10.8"));
        assert_eq!(o.broker.erlang_version, None);
        let totals = o.object_totals.unwrap();
        assert_eq!((totals.queues, totals.exchanges), (3, 7));
        assert_eq!(
            serde_json::to_value(&totals).unwrap(),
            json!({"queues": 3, "exchanges": 7, "connections": 1})
        );
        assert_eq!(o.queue_totals.messages, 0);
        let list: WhoAmI = serde_json::from_value(json!({"tags": ["administrator"]})).unwrap();
        let text: WhoAmI =
            serde_json::from_value(json!({"tags": "monitoring, administrator"})).unwrap();
        assert_eq!(list.tags.names(), ["administrator"]);
        assert_eq!(text.tags.names(), ["monitoring", "administrator"]);
        let none: WhoAmI = serde_json::from_value(json!({})).unwrap();
        assert!(none.tags.names().is_empty());
    }
}
