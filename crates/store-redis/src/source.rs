//! [`RedisSource`]: preflight, the `rdb` snapshot over the replication protocol and the
//! `logical` SCAN + DUMP + PTTL backup.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use backup_core::{Preflight, Source, StoreError};
use fred::prelude::*;
use fred::types::CustomCommand;
use serde_json::json;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::conn::{value_bytes, Conn, ServerInfo};
use crate::digest::{type_name, KeyDigest};
use crate::layout::Layout;
use crate::options::{Endpoint, Mode};
use crate::rdb::{Item, RdbParser};
use crate::{repl, RedisError, RedisOptions, KIND};

/// The backup side: a point-in-time RDB snapshot (`mode = "rdb"`, dump format `rdb`) or a
/// logical dump (`mode = "logical"`, dump format `redis-logical`).
#[derive(Debug)]
pub struct RedisSource {
    options: RedisOptions,
    endpoint: Endpoint,
}

impl RedisSource {
    /// A source with these options (checked, no I/O).
    pub fn new(options: RedisOptions) -> Result<Self, RedisError> {
        options.validate()?;
        let endpoint = options.endpoint()?;
        Ok(Self { options, endpoint })
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[async_trait]
impl Source for RedisSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn dump_format(&self) -> &'static str {
        match self.options.mode {
            Mode::Rdb => crate::FORMAT_RDB,
            Mode::Logical => crate::FORMAT_LOGICAL,
        }
    }

    fn extension(&self) -> &'static str {
        match self.options.mode {
            Mode::Rdb => "rdb",
            Mode::Logical => "rlog",
        }
    }

    async fn preflight(&self) -> Result<Preflight, StoreError> {
        let conn = Conn::connect(&self.endpoint).await?;
        let info = conn.info().await;
        conn.close().await;
        let info = info?;
        let used = info
            .get("used_memory_dataset")
            .or(info.get("used_memory"))
            .and_then(|v| v.parse::<u64>().ok());
        Ok(Preflight {
            version: Some(info.version()),
            estimated_bytes: used,
            details: json!({
                "server": self.endpoint.redacted(),
                "mode": self.options.mode.as_str(),
                "info": info.to_json(),
            }),
        })
    }

    async fn backup(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<serde_json::Value, StoreError> {
        let conn = Conn::connect(&self.endpoint).await?;
        let info = match conn.info().await {
            Ok(i) => i,
            Err(e) => {
                conn.close().await;
                return Err(e.into());
            }
        };
        let result = match self.options.mode {
            Mode::Logical => {
                let r = logical_backup(&conn, &self.options, &info, out, false).await;
                r.map(|m| with_server(m, &info, None))
            }
            Mode::Rdb => match rdb_backup(&self.endpoint, out).await {
                Ok(m) => Ok(with_server(m, &info, None)),
                Err(RedisError::SyncRefused { message, .. })
                    if self.options.fallback == Some(Mode::Logical) =>
                {
                    tracing::warn!(
                        server = %self.endpoint.redacted(),
                        "the server refused SYNC ({message}); taking a logical backup instead"
                    );
                    logical_backup(&conn, &self.options, &info, out, true)
                        .await
                        .map(|m| with_server(m, &info, Some(message)))
                }
                Err(e) => Err(e),
            },
        };
        conn.close().await;
        Ok(result?)
    }
}

fn with_server(
    mut meta: serde_json::Value,
    info: &ServerInfo,
    fallback_reason: Option<String>,
) -> serde_json::Value {
    if let Some(obj) = meta.as_object_mut() {
        obj.insert("server".into(), info.to_json());
        if let Some(reason) = fallback_reason {
            obj.insert("fallback_from".into(), json!("rdb"));
            obj.insert("fallback_reason".into(), json!(reason));
        }
    }
    meta
}

/// Streams a snapshot to `out` while an in-process parser checks it (magic, every opcode and
/// value, CRC64) and computes the key digest.
pub(crate) async fn rdb_backup(
    ep: &Endpoint,
    out: &mut (dyn AsyncWrite + Send + Unpin),
) -> Result<serde_json::Value, RedisError> {
    let (pipe_w, pipe_r) = tokio::io::duplex(256 * 1024);
    let transfer = async move {
        let mut pipe_w = pipe_w;
        let r = repl::snapshot(ep, out, &mut pipe_w).await;
        let _ = pipe_w.shutdown().await;
        r
    };
    let parse = async move {
        let mut parser = RdbParser::open(pipe_r, false).await?;
        let mut digest = KeyDigest::default();
        let mut functions = 0u64;
        while let Some(item) = parser.next().await? {
            match item {
                Item::Entry(e) => {
                    digest.add(e.db, &e.key, type_name(e.rdb_type), e.expire_ms.is_some())
                }
                Item::Function(_) => functions += 1,
            }
        }
        parser.expect_end().await?;
        Ok::<_, RedisError>((parser.version, parser.checksum_verified, digest, functions))
    };
    let (t, p) = tokio::join!(transfer, parse);
    let transfer = match (t, p) {
        (Err(e @ RedisError::TransferBroken { .. }), _) => return Err(e),
        (Err(e @ RedisError::SyncRefused { .. }), _) => return Err(e),
        (Err(e @ RedisError::Auth { .. }), _) => return Err(e),
        (Err(e @ RedisError::Connection { .. }), _) => return Err(e),
        (_, Err(e)) => return Err(e),
        (Err(e), _) => return Err(e),
        (Ok(t), Ok(p)) => (t, p),
    };
    let (t, (version, checksum, digest, functions)) = transfer;
    Ok(json!({
        "mode": "rdb",
        "point_in_time": true,
        "rdb_version": version,
        "rdb_bytes": t.bytes,
        "diskless": t.diskless,
        "checksum_verified": checksum,
        "keys": digest.keys(),
        "keys_per_db": digest.per_db_json(),
        "expires": digest.expires,
        "digest": digest.hex(),
        "functions": functions,
    }))
}

fn custom(name: &'static str) -> CustomCommand {
    CustomCommand::new_static(name, None, false)
}

/// Pipelines `DUMP`+`PTTL` of one `SCAN` page together with the next `SCAN`.
fn page_pipeline(
    conn: &Conn,
    keys: &[Value],
    cursor: &[u8],
    scan_count: u32,
) -> tokio::task::JoinHandle<Vec<Result<Value, fred::error::Error>>> {
    let pipe = conn.client.pipeline();
    let keys = keys.to_vec();
    let cursor = Value::Bytes(bytes::Bytes::copy_from_slice(cursor));
    tokio::spawn(async move {
        for k in &keys {
            let _: Result<(), _> = pipe.custom(custom("DUMP"), vec![k.clone()]).await;
            let _: Result<(), _> = pipe.custom(custom("PTTL"), vec![k.clone()]).await;
        }
        let _: Result<(), _> = pipe
            .custom(
                custom("SCAN"),
                vec![
                    cursor,
                    Value::from("COUNT"),
                    Value::Integer(i64::from(scan_count)),
                ],
            )
            .await;
        pipe.try_all::<Value>().await
    })
}

fn scan_reply(conn: &Conn, v: Value) -> Result<(Vec<u8>, Vec<Value>), RedisError> {
    let bad = || RedisError::Command {
        server: conn.server.clone(),
        command: "SCAN".into(),
        message: "unexpected reply shape".into(),
    };
    let mut parts = v.into_array().into_iter();
    let cursor = parts.next().ok_or_else(bad)?;
    let cursor = value_bytes(&cursor).ok_or_else(bad)?.to_vec();
    let keys = parts.next().ok_or_else(bad)?.into_array();
    Ok((cursor, keys))
}

/// The key-by-key backup (`as_rdb`: laid out as an RDB file, see [`Layout`]): every selected db, `SCAN` pages with their `DUMP`/`PTTL` pipelined,
/// records written as they arrive. Keys that vanish between `SCAN` and `DUMP` are skipped and
/// counted; keys `SCAN` returns twice are written once.
pub(crate) async fn logical_backup(
    conn: &Conn,
    options: &RedisOptions,
    info: &ServerInfo,
    out: &mut (dyn AsyncWrite + Send + Unpin),
    as_rdb: bool,
) -> Result<serde_json::Value, RedisError> {
    let dbs: Vec<u32> = match &options.databases {
        Some(list) => list.clone(),
        None => info
            .keyspace
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(db, _)| *db)
            .collect(),
    };
    let mut layout = Layout::new(as_rdb);
    let mut header = Vec::new();
    layout.header(&mut header);
    layout.written(&header);
    out.write_all(&header).await.map_err(RedisError::Output)?;
    let mut digest = KeyDigest::default();
    let mut vanished = 0u64;
    let mut duplicates = 0u64;
    let mut count = 0u64;
    let hasher = std::collections::hash_map::RandomState::new();
    let mut buf = Vec::with_capacity(256 * 1024);
    for db in &dbs {
        conn.select(*db).await?;
        let mut seen: HashSet<u64> = HashSet::new();
        // The first page: a plain SCAN.
        let first = conn
            .cmd(
                "SCAN",
                vec![
                    Value::from("0"),
                    Value::from("COUNT"),
                    Value::Integer(i64::from(options.scan_count)),
                ],
            )
            .await?;
        let (mut cursor, mut keys) = scan_reply(conn, first)?;
        let mut dedupe = |keys: &mut Vec<Value>| {
            keys.retain(|k| {
                let mut h = hasher.build_hasher();
                h.write(value_bytes(k).unwrap_or_default());
                let fresh = seen.insert(h.finish());
                if !fresh {
                    duplicates += 1;
                }
                fresh
            })
        };
        dedupe(&mut keys);
        let mut handle = page_pipeline(conn, &keys, &cursor, options.scan_count);
        loop {
            let last = cursor == b"0";
            let mut results = (&mut handle).await.map_err(|e| RedisError::Command {
                server: conn.server.clone(),
                command: "DUMP/PTTL pipeline".into(),
                message: e.to_string(),
            })?;
            let now = now_ms();
            if results.len() != keys.len() * 2 + 1 {
                return Err(RedisError::Command {
                    server: conn.server.clone(),
                    command: "DUMP/PTTL pipeline".into(),
                    message: format!(
                        "{} replies for {} commands",
                        results.len(),
                        keys.len() * 2 + 1
                    ),
                });
            }
            let scan = results
                .pop()
                .ok_or_else(|| RedisError::Command {
                    server: conn.server.clone(),
                    command: "SCAN".into(),
                    message: "no reply".into(),
                })?
                .map_err(|e| conn.command_error("SCAN", &e))?;
            // The next page executes on the server while this one is written out.
            let next = if last {
                None
            } else {
                let (next_cursor, mut next_keys) = scan_reply(conn, scan)?;
                dedupe(&mut next_keys);
                handle = page_pipeline(conn, &next_keys, &next_cursor, options.scan_count);
                Some((next_cursor, next_keys))
            };
            let mut results = results.into_iter();
            for key in &keys {
                let (Some(dump), Some(pttl)) = (results.next(), results.next()) else {
                    break;
                };
                let dump = dump.map_err(|e| conn.command_error("DUMP", &e))?;
                let pttl = pttl.map_err(|e| conn.command_error("PTTL", &e))?;
                let (Some(payload), Some(ttl)) = (value_bytes(&dump), pttl.as_i64()) else {
                    vanished += 1;
                    continue;
                };
                if ttl == -2 || payload.len() < 11 {
                    vanished += 1;
                    continue;
                }
                let expire = (ttl >= 0).then(|| now + ttl);
                let kb = value_bytes(key).unwrap_or_default();
                digest.add(*db, kb, type_name(payload[0]), expire.is_some());
                layout.record(*db, kb, expire, payload, &mut buf);
                count += 1;
            }
            if !buf.is_empty() {
                layout.written(&buf);
                out.write_all(&buf).await.map_err(RedisError::Output)?;
                buf.clear();
            }
            match next {
                Some((c, k)) => (cursor, keys) = (c, k),
                None => break,
            }
        }
    }
    let default_version = crate::rdb::rdb_version_for_redis(&info.version()).unwrap_or(9) as u16;
    let trailer = layout.trailer(count, default_version);
    out.write_all(&trailer).await.map_err(RedisError::Output)?;
    Ok(json!({
        "mode": "logical",
        "layout": if as_rdb { "rdb assembled from DUMP payloads" } else { "redis-logical" },
        "point_in_time": false,
        "databases": dbs,
        "keys": digest.keys(),
        "keys_per_db": digest.per_db_json(),
        "expires": digest.expires,
        "digest": digest.hex(),
        "vanished_keys": vanished,
        "duplicate_scan_keys": duplicates,
    }))
}
