//! [`ServerInfo`]: what `INFO` tells about a server, and the part of it a manifest keeps.

use std::collections::BTreeMap;

use crate::metadata::{Persistence, ServerMetadata};

/// What `INFO` says about a server.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerInfo {
    /// Every `field:value` line.
    pub fields: BTreeMap<String, String>,
    /// Keys per db (`INFO keyspace`).
    pub keyspace: BTreeMap<u32, u64>,
}

impl ServerInfo {
    /// Parses `INFO` text.
    pub fn parse(text: &str) -> Self {
        let mut info = Self::default();
        for line in text.lines() {
            let line = line.trim();
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if let Some(db) = k.strip_prefix("db").and_then(|d| d.parse::<u32>().ok()) {
                let keys = v
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("keys="))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                info.keyspace.insert(db, keys);
            } else {
                info.fields.insert(k.to_string(), v.to_string());
            }
        }
        info
    }

    /// A field's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }

    /// `redis_version`.
    pub fn version(&self) -> String {
        self.get("redis_version").unwrap_or("unknown").to_string()
    }

    /// The manifest's `server` object: version, role, memory, keyspace, persistence.
    pub fn to_metadata(&self) -> ServerMetadata {
        let num = |k: &str| self.get(k).and_then(|v| v.parse::<u64>().ok());
        let text = |k: &str| self.get(k).map(str::to_string);
        ServerMetadata {
            version: Some(self.version()),
            role: text("role"),
            mode: text("redis_mode"),
            used_memory: num("used_memory"),
            keyspace: self.keyspace.clone(),
            persistence: Persistence {
                aof_enabled: self.get("aof_enabled").map(|v| v == "1"),
                rdb_last_save_time: num("rdb_last_save_time"),
                rdb_changes_since_last_save: num("rdb_changes_since_last_save"),
                rdb_last_bgsave_status: text("rdb_last_bgsave_status"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_info() {
        let info = ServerInfo::parse(
            "# Server\r\nredis_version:7.0.15\r\nrole:master\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=5\r\ndb12:keys=7,expires=0,avg_ttl=0\r\n",
        );
        assert_eq!(info.version(), "7.0.15");
        assert_eq!(info.keyspace.get(&12), Some(&7));
        let json = serde_json::to_value(info.to_metadata()).unwrap();
        assert_eq!(json["keyspace"]["0"], 3);
        assert_eq!(json["role"], "master");
        // Fields INFO did not have are null, as in the manifests of earlier versions.
        assert!(json["mode"].is_null() && json["persistence"]["aof_enabled"].is_null());
    }
}
