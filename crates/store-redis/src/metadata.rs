//! [`RedisMetadata`]: what a Redis backup's manifest says about its dump (ARCHITECTURE.md,
//! "The store shape"), written by the source and read back by the target, the check and the
//! drill with `Manifest::metadata_as`.
//!
//! Every field has a serde default, so a manifest written by an earlier version (or one that
//! holds only some of these fields) still reads; fields a mode does not produce are left out
//! of the JSON, so the manifest shows what it always showed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::KeyDigest;
use crate::options::Mode;

/// The manifest metadata of a Redis backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisMetadata {
    /// How the backup read the server: `rdb` (a `SYNC` snapshot) or `logical` (`SCAN` +
    /// `DUMP`), whatever the configured mode was (see `fallback_from`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Whether the dump is one point in time (an `rdb` snapshot) or not (key by key).
    pub point_in_time: bool,
    /// Keys in the dump.
    pub keys: u64,
    /// Keys per db index (dbs without keys are left out); `None` when the metadata does not
    /// say (a restore then treats every db of the target as receiving keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_per_db: Option<BTreeMap<u32, u64>>,
    /// Keys with a TTL.
    pub expires: u64,
    /// The order-independent digest of every (db, key, type, ttl-present), 32 hex digits
    /// (`None` in metadata written without one: nothing is compared then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The server the backup was taken from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerMetadata>,

    /// `rdb`: the RDB version of the snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdb_version: Option<u32>,
    /// `rdb`: bytes of RDB received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdb_bytes: Option<u64>,
    /// `rdb`: whether the server sent a diskless (`EOF:<mark>`) transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diskless: Option<bool>,
    /// `rdb`: whether the snapshot's trailing CRC64 was present and matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_verified: Option<bool>,
    /// `rdb`: function libraries in the snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub functions: Option<u64>,

    /// `logical`: how the records are laid out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
    /// `logical`: the db indexes backed up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub databases: Option<Vec<u32>>,
    /// `logical`: keys that vanished between `SCAN` and `DUMP` (deleted or expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vanished_keys: Option<u64>,
    /// `logical`: keys `SCAN` returned more than once (written once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_scan_keys: Option<u64>,
    /// `rdb` with `fallback = "logical"`: the mode that was refused (`rdb`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_from: Option<Mode>,
    /// Why it was refused (the server's answer to `SYNC`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

/// How a key-by-key backup laid out its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// The `redis-logical` format.
    #[serde(rename = "redis-logical")]
    Logical,
    /// An RDB file assembled from `DUMP` payloads (an `rdb` backup that fell back).
    #[serde(rename = "rdb assembled from DUMP payloads")]
    RdbFromDumps,
}

/// What `INFO` said about the server at backup time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerMetadata {
    /// `redis_version` (`"unknown"` when the server did not say).
    pub version: Option<String>,
    /// `role`: `master` or `slave`.
    pub role: Option<String>,
    /// `redis_mode`: `standalone`, `cluster`, `sentinel`.
    pub mode: Option<String>,
    /// `used_memory` in bytes.
    pub used_memory: Option<u64>,
    /// Keys per db index (`INFO keyspace`).
    pub keyspace: BTreeMap<u32, u64>,
    /// The server's persistence settings.
    pub persistence: Persistence,
}

/// The persistence part of `INFO`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persistence {
    /// `aof_enabled`.
    pub aof_enabled: Option<bool>,
    /// `rdb_last_save_time` (Unix seconds).
    pub rdb_last_save_time: Option<u64>,
    /// `rdb_changes_since_last_save`.
    pub rdb_changes_since_last_save: Option<u64>,
    /// `rdb_last_bgsave_status`.
    pub rdb_last_bgsave_status: Option<String>,
}

impl RedisMetadata {
    /// The key counts and digest of `digest`, the rest at its defaults.
    pub(crate) fn of_keys(digest: &KeyDigest) -> Self {
        Self {
            keys: digest.keys(),
            keys_per_db: Some(digest.per_db.clone()),
            expires: digest.expires,
            digest: Some(digest.hex()),
            ..Self::default()
        }
    }

    /// The dbs that hold keys, by the manifest (`None`: it does not say).
    pub(crate) fn dbs_with_keys(&self) -> Option<Vec<u32>> {
        let per_db = self.keys_per_db.as_ref()?;
        Some(
            per_db
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(db, _)| *db)
                .collect(),
        )
    }

    /// The source server's `redis_version`, or `"unknown"`.
    pub(crate) fn source_version(&self) -> &str {
        self.server
            .as_ref()
            .and_then(|s| s.version.as_deref())
            .unwrap_or("unknown")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_of_an_earlier_version_reads() {
        // As written by the first release (an rdb backup), and a bare one.
        let old = serde_json::json!({
            "mode": "rdb", "point_in_time": true, "rdb_version": 10, "rdb_bytes": 1234,
            "diskless": false, "checksum_verified": true, "keys": 3,
            "keys_per_db": {"0": 2, "3": 1}, "expires": 1,
            "digest": "000102030405060708090a0b0c0d0e0f", "functions": 0,
            "server": {"version": "7.0.15", "role": "master", "mode": "standalone",
                       "used_memory": 1000, "keyspace": {"0": 2, "3": 1},
                       "persistence": {"aof_enabled": false, "rdb_last_save_time": 1,
                                       "rdb_changes_since_last_save": 0,
                                       "rdb_last_bgsave_status": "ok"}},
            "some_future_field": [1, 2],
        });
        let m: RedisMetadata = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(m.keys_per_db.as_ref().and_then(|k| k.get(&3)), Some(&1));
        assert_eq!(m.source_version(), "7.0.15");
        assert_eq!(m.dbs_with_keys(), Some(vec![0, 3]));
        // Written back, it is the same JSON (but for the unknown field).
        let mut expected = old;
        expected
            .as_object_mut()
            .unwrap()
            .remove("some_future_field");
        assert_eq!(serde_json::to_value(&m).unwrap(), expected);

        let bare: RedisMetadata =
            serde_json::from_value(serde_json::json!({"server": {"version": "7.4.1"}})).unwrap();
        assert_eq!(bare.source_version(), "7.4.1");
        assert_eq!(bare.digest, None);
        assert_eq!(bare.dbs_with_keys(), None);
    }

    #[test]
    fn a_logical_fallback_reads_and_writes_its_own_fields() {
        let json = serde_json::json!({
            "mode": "logical", "layout": "rdb assembled from DUMP payloads",
            "point_in_time": false, "databases": [0, 2], "keys": 0, "keys_per_db": {},
            "expires": 0, "digest": "00000000000000000000000000000000", "vanished_keys": 0,
            "duplicate_scan_keys": 0, "fallback_from": "rdb",
            "fallback_reason": "NOPERM this user has no permissions to run the 'sync' command",
        });
        let m: RedisMetadata = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(m.layout, Some(Layout::RdbFromDumps));
        assert_eq!(m.fallback_from, Some(Mode::Rdb));
        assert_eq!(serde_json::to_value(&m).unwrap(), json);
    }
}
