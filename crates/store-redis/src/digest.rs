//! [`KeyDigest`]: an order-independent summary of a keyspace — key count per db and a digest
//! of every (db, key, type, ttl-present) — that an RDB dump, a logical dump and a live server
//! all produce the same way, so any two can be compared.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use crate::RedisMetadata;

/// The Redis type name (`TYPE`'s answer) of an RDB value type byte.
pub(crate) fn type_name(rdb_type: u8) -> &'static str {
    match rdb_type {
        0 => "string",
        1 | 10 | 14 | 18 => "list",
        2 | 11 | 20 => "set",
        3 | 5 | 12 | 17 => "zset",
        4 | 9 | 13 | 16 | 22..=25 => "hash",
        15 | 19 | 21 => "stream",
        6 | 7 => "module",
        _ => "unknown",
    }
}

/// Key counts per db and an order-independent digest of the keys.
///
/// Each key contributes the first 16 bytes of
/// `sha256(db as u32 LE || type name || 0x00 || ttl-present (0/1) || key)`, read as a
/// little-endian `u128`; the digest is the wrapping sum of those, so the order keys arrive in
/// does not matter.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct KeyDigest {
    /// Keys per db index.
    pub per_db: BTreeMap<u32, u64>,
    /// Keys with a TTL.
    pub expires: u64,
    sum: u128,
}

impl KeyDigest {
    /// Adds one key.
    pub fn add(&mut self, db: u32, key: &[u8], type_name: &str, has_ttl: bool) {
        let mut h = Sha256::new();
        h.update(db.to_le_bytes());
        h.update(type_name.as_bytes());
        h.update([0u8, u8::from(has_ttl)]);
        h.update(key);
        let out = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&out[..16]);
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(first));
        *self.per_db.entry(db).or_default() += 1;
        if has_ttl {
            self.expires += 1;
        }
    }

    /// All keys.
    pub fn keys(&self) -> u64 {
        self.per_db.values().sum()
    }

    /// The keys of `self` that are not in `part` (`part` must be a subset of `self`).
    pub fn minus(&self, part: &KeyDigest) -> KeyDigest {
        let mut per_db = self.per_db.clone();
        for (db, n) in &part.per_db {
            let left = per_db.entry(*db).or_default();
            *left = left.saturating_sub(*n);
        }
        per_db.retain(|_, n| *n > 0);
        KeyDigest {
            per_db,
            expires: self.expires.saturating_sub(part.expires),
            sum: self.sum.wrapping_sub(part.sum),
        }
    }

    /// The digest as 32 hex digits.
    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }

    /// `{"0": 12, "3": 4}`: the per-db counts as JSON.
    pub fn per_db_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.per_db
                .iter()
                .map(|(db, n)| (db.to_string(), serde_json::Value::from(*n)))
                .collect(),
        )
    }

    /// Compares with the `keys_per_db` and `digest` of a manifest's metadata; `Err` names the
    /// first difference. Metadata without a digest is not compared.
    pub fn compare(&self, metadata: &RedisMetadata, what: &str) -> Result<(), String> {
        let Some(digest) = metadata.digest.as_deref() else {
            return Ok(());
        };
        let expected: BTreeMap<u32, u64> = metadata
            .keys_per_db
            .iter()
            .flatten()
            .filter(|(_, n)| **n > 0)
            .map(|(db, n)| (*db, *n))
            .collect();
        if expected != self.per_db {
            return Err(format!(
                "{what} has keys per db {:?}, the manifest says {:?}",
                self.per_db, expected
            ));
        }
        if digest != self.hex() {
            return Err(format!(
                "{what} has key digest {}, the manifest says {digest}",
                self.hex()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent() {
        let mut a = KeyDigest::default();
        a.add(0, b"x", "string", false);
        a.add(1, b"y", "hash", true);
        let mut b = KeyDigest::default();
        b.add(1, b"y", "hash", true);
        b.add(0, b"x", "string", false);
        assert_eq!(a, b);
        let mut c = KeyDigest::default();
        c.add(1, b"y", "hash", false);
        c.add(0, b"x", "string", false);
        assert_ne!(a.hex(), c.hex());
        let meta = RedisMetadata::of_keys(&a);
        assert!(a.compare(&meta, "dump").is_ok());
        assert!(c.compare(&meta, "dump").is_err());
        assert!(c.compare(&RedisMetadata::default(), "dump").is_ok());
        let mut y = KeyDigest::default();
        y.add(1, b"y", "hash", true);
        let mut x = KeyDigest::default();
        x.add(0, b"x", "string", false);
        assert_eq!(a.minus(&y), x);
        assert_eq!(a.minus(&a), KeyDigest::default());
    }
}
