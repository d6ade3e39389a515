//! [`RedisDrill`]: `verify --deep` — restore into a scratch `redis-server`, compare with the
//! manifest, kill the server.

use std::time::Instant;

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, RestoreOptions, StoreError};
use fred::prelude::*;
use fred::types::CustomCommand;
use serde_json::json;
use tokio::io::AsyncRead;

use crate::conn::Conn;
use crate::digest::KeyDigest;
use crate::endpoint::Endpoint;
use crate::key_sorter::{KeySorter, MEMORY};
use crate::restore::restore_into;
use crate::scratch::{ScratchOptions, ScratchServer};
use crate::sorted_scan::{blocking, finish, next_batch};
use crate::target::metadata_of;
use crate::{RedisError, RedisMetadata, RedisOptions};

/// `verify --deep`: starts a scratch `redis-server` (from `PATH`) on a free loopback port,
/// private (a random password) and dying with this process ([`ScratchServer`]), restores the
/// backup into it with pipelined `RESTORE`, and compares (1) the key count per db and the
/// (db, key, type, ttl-present) digest of the dump with the manifest and (2) the same of the
/// scratch server's live keyspace with what was restored. The server is killed afterwards,
/// also on failure. Without `redis-server` on `PATH` the drill fails (it never restores into
/// the source server).
#[derive(Debug)]
pub struct RedisDrill {
    pipeline: usize,
    timeout: std::time::Duration,
}

impl RedisDrill {
    /// A drill for the source with `options`.
    pub fn new(options: &RedisOptions) -> Result<Self, RedisError> {
        options.validate()?;
        Ok(Self {
            pipeline: options.pipeline,
            timeout: options.connect_timeout(),
        })
    }
}

#[async_trait]
impl FormatCheck for RedisDrill {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    async fn check(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        m: &Manifest,
    ) -> Result<Report, StoreError> {
        let metadata = metadata_of(m)?;
        // A source configured with more than 16 dbs: the scratch server needs them all.
        let databases = metadata
            .keys_per_db
            .iter()
            .flatten()
            .map(|(db, _)| *db)
            .max()
            .map_or(16, |max| max.saturating_add(1));
        let server = ScratchServer::start(&ScratchOptions::new().databases(databases))
            .await
            .map_err(RedisError::Drill)?;
        let result = self.drill(&server, input, m, &metadata).await;
        server.stop();
        Ok(result?)
    }
}

impl RedisDrill {
    async fn drill(
        &self,
        server: &ScratchServer,
        input: &mut (dyn AsyncRead + Send + Unpin),
        m: &Manifest,
        metadata: &RedisMetadata,
    ) -> Result<Report, RedisError> {
        let mut ep = Endpoint::parse(&server.url())?;
        ep.connect_timeout = self.timeout;
        ep.password = server.password().cloned();
        let started = Instant::now();
        let stats = restore_into(&ep, input, m, &RestoreOptions::default(), self.pipeline).await?;
        let restore_ms = started.elapsed().as_millis() as u64;
        stats
            .dump
            .compare(metadata, "the dump")
            .map_err(RedisError::Mismatch)?;
        let conn = Conn::connect(&ep).await?;
        let live = live_digest(&conn).await;
        conn.close().await;
        let (live, live_volatile) = live?;
        let expired_during_drill = compare_live(
            &stats.restored,
            &stats.restored_volatile,
            &live,
            &live_volatile,
        )
        .map_err(RedisError::Mismatch)?;
        Ok(Report {
            summary: format!(
                "restore drill: {} keys restored into a scratch redis-server in {restore_ms} ms; \
                 key counts and digest match the manifest ({} expired keys skipped)",
                live.keys(),
                stats.expired
            ),
            details: json!({
                "restore_ms": restore_ms,
                "keys": live.keys(),
                "keys_per_db": live.per_db_json(),
                "digest": live.hex(),
                "manifest_digest": metadata.digest,
                "expired_skipped": stats.expired,
                "expired_during_drill": expired_during_drill,
                "functions": stats.functions,
            }),
        })
    }
}

/// Compares the scratch server's keys with what the restore sent. Keys without a TTL must
/// match exactly. Keys with a TTL may expire between the restore and the scan (Redis expires
/// them on its own), so fewer of them per db is accepted — their digest then cannot be
/// compared — and the number is returned; more of them, or a different digest at the same
/// count, is a mismatch.
pub(crate) fn compare_live(
    restored: &KeyDigest,
    restored_volatile: &KeyDigest,
    live: &KeyDigest,
    live_volatile: &KeyDigest,
) -> Result<u64, String> {
    let restored_persistent = restored.minus(restored_volatile);
    let live_persistent = live.minus(live_volatile);
    if live_persistent != restored_persistent {
        return Err(format!(
            "the scratch server holds keys without TTL per db {:?} (digest {}), the restore \
             sent {:?} (digest {})",
            live_persistent.per_db,
            live_persistent.hex(),
            restored_persistent.per_db,
            restored_persistent.hex()
        ));
    }
    if live_volatile == restored_volatile {
        return Ok(0);
    }
    let fewer = live_volatile.per_db.iter().all(|(db, n)| {
        restored_volatile
            .per_db
            .get(db)
            .is_some_and(|sent| n <= sent)
    }) && live_volatile.keys() < restored_volatile.keys();
    if !fewer {
        return Err(format!(
            "the scratch server holds keys with a TTL per db {:?} (digest {}), the restore \
             sent {:?} (digest {})",
            live_volatile.per_db,
            live_volatile.hex(),
            restored_volatile.per_db,
            restored_volatile.hex()
        ));
    }
    Ok(restored_volatile.keys() - live_volatile.keys())
}

/// Keys asked for per `SCAN` and per `TYPE`/`PTTL` pipeline.
const SCAN_BATCH: usize = 1000;

/// The (db, key, type, ttl-present) digest of a live server and the same of its keys with a
/// TTL: `SCAN` every db of `INFO keyspace` into the bounded key sorter, then `TYPE` and
/// `PTTL` pipelined per batch of the sorted keys.
pub(crate) async fn live_digest(conn: &Conn) -> Result<(KeyDigest, KeyDigest), RedisError> {
    let info = conn.info().await?;
    let mut digest = KeyDigest::default();
    let mut volatile = KeyDigest::default();
    for (db, n) in &info.keyspace {
        if *n == 0 {
            continue;
        }
        conn.select(*db).await?;
        // SCAN may return a key twice: the bounded sorter hands each back once, whatever
        // the key count (ARCHITECTURE.md, invariant 6).
        let mut sorter = KeySorter::new(MEMORY, std::env::temp_dir());
        let mut cursor = b"0".to_vec();
        loop {
            let reply = conn
                .cmd(
                    "SCAN",
                    vec![
                        Value::Bytes(bytes::Bytes::from(cursor.clone())),
                        Value::from("COUNT"),
                        Value::Integer(SCAN_BATCH as i64),
                    ],
                )
                .await?;
            let mut parts = reply.into_array().into_iter();
            let next = parts
                .next()
                .and_then(|c| c.as_bytes().map(<[u8]>::to_vec))
                .unwrap_or_else(|| b"0".to_vec());
            for key in parts.next().map(|k| k.into_array()).unwrap_or_default() {
                if sorter.push(key.as_bytes().unwrap_or_default()) {
                    sorter = blocking(sorter, |sorter| sorter.spill()).await?;
                }
            }
            cursor = next;
            if cursor == b"0" {
                break;
            }
        }
        let mut keys = finish(sorter).await?;
        loop {
            let (rest, batch) = next_batch(keys, SCAN_BATCH).await?;
            keys = rest;
            if batch.is_empty() {
                break;
            }
            let pipe = conn.client.pipeline();
            for key in &batch {
                let key = Value::Bytes(bytes::Bytes::copy_from_slice(key));
                let _: Result<(), _> = pipe
                    .custom(
                        CustomCommand::new_static("TYPE", None, false),
                        vec![key.clone()],
                    )
                    .await;
                let _: Result<(), _> = pipe
                    .custom(CustomCommand::new_static("PTTL", None, false), vec![key])
                    .await;
            }
            let results: Vec<Value> = pipe
                .all()
                .await
                .map_err(|e| conn.command_error("TYPE/PTTL", e))?;
            for (key, pair) in batch.iter().zip(results.chunks(2)) {
                let t = pair[0].as_str().map(|s| s.into_owned()).unwrap_or_default();
                let ttl = pair.get(1).and_then(|v| v.as_i64()).unwrap_or(-1);
                if t == "none" || ttl == -2 {
                    continue;
                }
                digest.add(*db, key, &t, ttl >= 0);
                if ttl >= 0 {
                    volatile.add(*db, key, &t, true);
                }
            }
        }
    }
    Ok((digest, volatile))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests(keys: &[(&str, bool)]) -> (KeyDigest, KeyDigest) {
        let (mut all, mut volatile) = (KeyDigest::default(), KeyDigest::default());
        for (k, ttl) in keys {
            all.add(0, k.as_bytes(), "string", *ttl);
            if *ttl {
                volatile.add(0, k.as_bytes(), "string", true);
            }
        }
        (all, volatile)
    }

    #[test]
    fn keys_expiring_during_the_drill_are_not_a_mismatch() {
        let (sent, sent_v) = digests(&[("a", false), ("b", true), ("c", true)]);
        let (same, same_v) = digests(&[("a", false), ("b", true), ("c", true)]);
        assert_eq!(compare_live(&sent, &sent_v, &same, &same_v), Ok(0));
        // `c` expired on the scratch server before the scan.
        let (live, live_v) = digests(&[("a", false), ("b", true)]);
        assert_eq!(compare_live(&sent, &sent_v, &live, &live_v), Ok(1));
        // A key without TTL missing, an extra key, or a TTL lost: mismatches.
        let (live, live_v) = digests(&[("b", true), ("c", true)]);
        assert!(compare_live(&sent, &sent_v, &live, &live_v).is_err());
        let (live, live_v) = digests(&[("a", false), ("b", true), ("c", true), ("d", true)]);
        assert!(compare_live(&sent, &sent_v, &live, &live_v).is_err());
        let (live, live_v) = digests(&[("a", false), ("b", true), ("c", false)]);
        assert!(compare_live(&sent, &sent_v, &live, &live_v).is_err());
        // The same count of TTL keys but other keys: a mismatch.
        let (live, live_v) = digests(&[("a", false), ("b", true), ("x", true)]);
        assert!(compare_live(&sent, &sent_v, &live, &live_v).is_err());
    }
}
