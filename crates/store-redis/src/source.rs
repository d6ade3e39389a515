//! [`RedisSource`]: preflight, the `rdb` snapshot over the replication protocol and the
//! `logical` SCAN + DUMP + PTTL backup.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use backup_core::{Preflight, Source, StoreError};
use serde_json::json;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::conn::{Conn, ServerInfo};
use crate::digest::{type_name, KeyDigest};
use crate::layout::Layout;
use crate::options::{Endpoint, Mode};
use crate::raw::RawConn;
use crate::rdb::{Item, RdbParser};
use crate::resp::{self, Reply};
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
    ) -> Result<backup_core::Dumped, StoreError> {
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
                let r = logical_backup(&self.endpoint, &self.options, &info, out, false).await;
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
                    logical_backup(&self.endpoint, &self.options, &info, out, true)
                        .await
                        .map(|m| with_server(m, &info, Some(message)))
                }
                Err(e) => Err(e),
            },
        };
        conn.close().await;
        Ok(backup_core::Dumped {
            metadata: result?,
            contains_password_hashes: false,
        })
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

/// Keys already written for one db: 64-bit hashes of their names (keyed by a per-backup
/// random key, so the sets' own hasher can pass them through).
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Seen = HashSet<u64, std::hash::BuildHasherDefault<PassThrough>>;

/// A `SCAN` reply: the next cursor and the page's keys.
fn scan_reply(server: &str, v: Reply) -> Result<(Vec<u8>, Vec<Vec<u8>>), RedisError> {
    let bad = |what: &str| RedisError::Command {
        server: server.to_string(),
        command: "SCAN".into(),
        message: what.to_string(),
    };
    let parts = match v {
        Reply::Array(Some(parts)) if parts.len() == 2 => parts,
        Reply::Error(e) => return Err(bad(&e)),
        _ => return Err(bad("unexpected reply shape")),
    };
    let mut parts = parts.into_iter();
    let cursor = match parts.next() {
        Some(c) => c.bytes().ok_or_else(|| bad("unexpected cursor"))?.to_vec(),
        None => return Err(bad("unexpected reply shape")),
    };
    let keys = match parts.next() {
        Some(Reply::Array(Some(keys))) => keys
            .into_iter()
            .map(|k| match k {
                Reply::Bulk(Some(k)) => Ok(k),
                _ => Err(bad("unexpected key in the reply")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(bad("unexpected reply shape")),
    };
    Ok((cursor, keys))
}

/// The commands of one page: `SCAN <cursor>` first (unless the scan is done), so its reply
/// arrives before this page's `DUMP`/`PTTL` replies and the next page can be sent while these
/// are read; then `DUMP k` + `PTTL k` per key.
fn page_commands(cursor: &[u8], keys: &[Vec<u8>], scan_count: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if cursor != b"0" {
        resp::command(&[b"SCAN", cursor, b"COUNT", scan_count], out);
    }
    for k in keys {
        resp::command(&[b"DUMP", k], out);
        resp::command(&[b"PTTL", k], out);
    }
}

/// What a logical backup counted so far.
struct Tally {
    layout: Layout,
    digest: KeyDigest,
    vanished: u64,
    count: u64,
    buf: Vec<u8>,
}

impl Tally {
    /// Reads the `DUMP`/`PTTL` replies of `keys` and writes their records to `out`.
    async fn page(
        &mut self,
        raw: &mut RawConn,
        db: u32,
        keys: &[Vec<u8>],
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<(), RedisError> {
        let now = now_ms();
        for key in keys {
            let dump = raw.reply().await?;
            let pttl = raw.reply().await?;
            let failed = |command: &str, message: String| RedisError::Command {
                server: raw.server.clone(),
                command: command.to_string(),
                message,
            };
            let payload = match dump {
                Reply::Bulk(Some(p)) => p,
                Reply::Bulk(None) => {
                    self.vanished += 1;
                    continue;
                }
                Reply::Error(e) => return Err(failed("DUMP", e)),
                other => return Err(failed("DUMP", format!("unexpected reply {other:?}"))),
            };
            let ttl = match pttl {
                Reply::Int(t) => t,
                Reply::Error(e) => return Err(failed("PTTL", e)),
                other => return Err(failed("PTTL", format!("unexpected reply {other:?}"))),
            };
            if ttl == -2 || payload.len() < 11 {
                self.vanished += 1;
                continue;
            }
            let expire = (ttl >= 0).then(|| now + ttl);
            self.digest
                .add(db, key, type_name(payload[0]), expire.is_some());
            self.layout.record(db, key, expire, &payload, &mut self.buf);
            self.count += 1;
        }
        if self.buf.len() >= 128 * 1024 {
            self.flush(out).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, out: &mut (dyn AsyncWrite + Send + Unpin)) -> Result<(), RedisError> {
        if !self.buf.is_empty() {
            self.layout.written(&self.buf);
            out.write_all(&self.buf).await.map_err(RedisError::Output)?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// The key-by-key backup (`as_rdb`: laid out as an RDB file, see [`Layout`]) on a raw
/// connection: every selected db, `SCAN` pages with their `DUMP`/`PTTL` pipelined, two pages
/// in flight (the server works on the next page while this one's replies are read and
/// written), records written as they arrive. Keys that vanish between `SCAN` and `DUMP` are
/// skipped and counted; keys `SCAN` returns twice are written once.
pub(crate) async fn logical_backup(
    ep: &Endpoint,
    options: &RedisOptions,
    info: &ServerInfo,
    out: &mut (dyn AsyncWrite + Send + Unpin),
    as_rdb: bool,
) -> Result<serde_json::Value, RedisError> {
    let mut raw = RawConn::connect(ep).await?;
    let result = logical_dump(&mut raw, options, info, out, as_rdb).await;
    raw.close().await;
    result
}

async fn logical_dump(
    raw: &mut RawConn,
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
    let mut tally = Tally {
        layout: Layout::new(as_rdb),
        digest: KeyDigest::default(),
        vanished: 0,
        count: 0,
        buf: Vec::with_capacity(256 * 1024),
    };
    tally.layout.header(&mut tally.buf);
    let mut duplicates = 0u64;
    let key_hasher = std::collections::hash_map::RandomState::new();
    let scan_count = options.scan_count.to_string();
    let mut commands = Vec::with_capacity(64 * 1024);
    for db in &dbs {
        raw.call("SELECT", &[db.to_string().as_bytes()]).await?;
        let mut seen = Seen::default();
        let mut dedupe = |keys: &mut Vec<Vec<u8>>| {
            keys.retain(|k| {
                let mut h = key_hasher.build_hasher();
                h.write(k);
                let fresh = seen.insert(h.finish());
                if !fresh {
                    duplicates += 1;
                }
                fresh
            })
        };
        let first = raw
            .call("SCAN", &[b"0", b"COUNT", scan_count.as_bytes()])
            .await?;
        let (mut cursor, mut keys) = scan_reply(&raw.server, first)?;
        dedupe(&mut keys);
        let mut previous: Option<Vec<Vec<u8>>> = None;
        loop {
            page_commands(&cursor, &keys, scan_count.as_bytes(), &mut commands);
            raw.send(&commands).await?;
            if let Some(prev) = previous.take() {
                tally.page(raw, *db, &prev, out).await?;
            }
            if cursor == b"0" {
                tally.page(raw, *db, &keys, out).await?;
                break;
            }
            let scan = raw.reply().await?;
            let (next_cursor, mut next_keys) = scan_reply(&raw.server, scan)?;
            dedupe(&mut next_keys);
            previous = Some(std::mem::replace(&mut keys, next_keys));
            cursor = next_cursor;
        }
    }
    tally.flush(out).await?;
    let Tally {
        layout,
        digest,
        vanished,
        count,
        ..
    } = tally;
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
