//! [`RabbitmqMetadata`]: what a RabbitMQ backup's manifest records, written by the source and
//! read back by the target, the format check and the drill. Every field has a serde default,
//! so the manifests of earlier versions read.

use std::collections::BTreeMap;

use backup_core::Manifest;
use serde::{Deserialize, Serialize};

use crate::error::RabbitmqError;
use crate::format::{QueueCount, Skipped};

/// The manifest metadata of a RabbitMQ backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RabbitmqMetadata {
    /// The broker's versions and name, as `GET /api/overview` gave them (their keys sit at
    /// the top level of the metadata).
    #[serde(flatten)]
    pub broker: BrokerInfo,
    /// The vhosts backed up (`None`: the whole broker).
    #[serde(default)]
    pub vhosts_selected: Option<Vec<String>>,
    /// Objects per section of the definitions (`users`, `vhosts`, `queues`, ...).
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// Per vhost: its `queues`, `exchanges`, `bindings`, `policies`, `parameters`.
    #[serde(default)]
    pub vhost_counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// The definitions hold the users' password hashes (always, for this store).
    #[serde(default)]
    pub contains_password_hashes: bool,
    /// The messages, for a `rabbitmq-definitions+messages` backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<MessagesMetadata>,
}

/// What a broker says it is (`GET /api/overview`; a field the broker leaves out is `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    /// The broker's version, e.g. `3.10.8`.
    #[serde(default)]
    pub rabbitmq_version: Option<String>,
    /// Its Erlang version.
    #[serde(default)]
    pub erlang_version: Option<String>,
    /// Its management plugin's version.
    #[serde(default)]
    pub management_version: Option<String>,
    /// Its cluster name.
    #[serde(default)]
    pub cluster_name: Option<String>,
}

/// The messages of a backup with `messages = true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesMetadata {
    /// Messages in the dump.
    #[serde(default)]
    pub total: u64,
    /// `max_messages_per_queue` at backup time.
    #[serde(default)]
    pub max_per_queue: u64,
    /// The queues read.
    #[serde(default)]
    pub queues: Vec<QueueCount>,
    /// The queues not read, and why.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

impl RabbitmqMetadata {
    /// The metadata of the backup `manifest` describes.
    pub fn of(manifest: &Manifest) -> Result<Self, RabbitmqError> {
        if manifest.metadata.is_null() {
            return Ok(Self::default());
        }
        manifest
            .metadata_as::<Self>()
            .map_err(RabbitmqError::Metadata)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// The metadata as the source wrote it before it was a struct (a messages backup).
    fn written_by_an_earlier_version() -> serde_json::Value {
        json!({
            "cluster_name": "rabbit@vm",
            "contains_password_hashes": true,
            "counts": {"bindings": 0, "exchanges": 0, "global_parameters": 0, "parameters": 0,
                       "permissions": 1, "policies": 0, "queues": 1, "topic_permissions": 0,
                       "users": 1, "vhosts": 1},
            "erlang_version": "25.2.3",
            "management_version": "3.10.8",
            "messages": {"max_per_queue": 65535, "total": 3,
                         "queues": [{"vhost": "v", "queue": "q", "messages": 3, "depth": 3}],
                         "skipped": [{"vhost": "v", "queue": "s", "reason": "auto-delete queue"}]},
            "rabbitmq_version": "3.10.8",
            "vhost_counts": {"v": {"bindings": 0, "exchanges": 0, "parameters": 0,
                                   "policies": 0, "queues": 1}},
            "vhosts_selected": ["v"],
        })
    }

    #[test]
    fn the_json_shape_is_that_of_earlier_versions() {
        let old = written_by_an_earlier_version();
        let m = lifeboat_testing::manifest("rabbitmq", crate::MESSAGES_FORMAT, old.clone());
        let typed = RabbitmqMetadata::of(&m).unwrap();
        assert_eq!(typed.messages.as_ref().unwrap().total, 3);
        assert_eq!(typed.counts["queues"], 1);
        assert!(typed.contains_password_hashes);
        assert_eq!(serde_json::to_value(&typed).unwrap(), old);

        // Definitions only: no `messages` key, and versions the broker did not give are null.
        let defs = RabbitmqMetadata {
            contains_password_hashes: true,
            ..RabbitmqMetadata::default()
        };
        let value = serde_json::to_value(&defs).unwrap();
        assert!(value.get("messages").is_none());
        assert_eq!(value["rabbitmq_version"], serde_json::Value::Null);
        assert_eq!(value["vhosts_selected"], serde_json::Value::Null);
    }

    #[test]
    fn sparse_and_foreign_metadata() {
        // A manifest with hardly anything (or nothing) still reads, with defaults.
        for sparse in [json!({}), json!({"counts": {"queues": 2}}), json!(null)] {
            let m = lifeboat_testing::manifest("rabbitmq", crate::DEFINITIONS_FORMAT, sparse);
            let typed = RabbitmqMetadata::of(&m).unwrap();
            assert!(typed.messages.is_none());
        }
        // Metadata that is not this store's is corrupt, with the parser's error as its cause.
        let m = lifeboat_testing::manifest(
            "rabbitmq",
            crate::DEFINITIONS_FORMAT,
            json!({"counts": "many"}),
        );
        let err = RabbitmqMetadata::of(&m).unwrap_err();
        assert_eq!(err.kind(), backup_core::StoreErrorKind::Corrupt);
        assert!(std::error::Error::source(&err).is_some());
    }
}
