//! The `logical` backup (and the `rdb` fallback): `SCAN` every selected db on a raw
//! connection, `DUMP` + `PTTL` of each page's keys pipelined, records written as they arrive.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::digest::{type_name, KeyDigest};
use crate::endpoint::Endpoint;
use crate::error::ReplyError;
use crate::info::ServerInfo;
use crate::layout::Layout;
use crate::metadata;
use crate::options::Mode;
use crate::raw::RawConn;
use crate::resp::{self, Reply};
use crate::{now_ms, RedisError, RedisMetadata, RedisOptions, ServerError};

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
    let failed = |source| RedisError::Command {
        server: server.to_string(),
        command: "SCAN".into(),
        source,
    };
    let bad = |what: &str| failed(ReplyError::Unexpected(what.to_string()));
    let parts = match v {
        Reply::Array(Some(parts)) if parts.len() == 2 => parts,
        Reply::Error(e) => return Err(failed(ReplyError::Server(ServerError::new(e)))),
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
            let failed = |command: &str, source| RedisError::Command {
                server: raw.server.clone(),
                command: command.to_string(),
                source,
            };
            let error = |e| ReplyError::Server(ServerError::new(e));
            let unexpected = |r| ReplyError::Unexpected(format!("unexpected reply {r:?}"));
            let payload = match dump {
                Reply::Bulk(Some(p)) => p,
                Reply::Bulk(None) => {
                    self.vanished += 1;
                    continue;
                }
                Reply::Error(e) => return Err(failed("DUMP", error(e))),
                other => return Err(failed("DUMP", unexpected(other))),
            };
            let ttl = match pttl {
                Reply::Int(t) => t,
                Reply::Error(e) => return Err(failed("PTTL", error(e))),
                other => return Err(failed("PTTL", unexpected(other))),
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
) -> Result<RedisMetadata, RedisError> {
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
) -> Result<RedisMetadata, RedisError> {
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
    let default_version =
        crate::rdb_version::rdb_version_for_redis(&info.version()).unwrap_or(9) as u16;
    let trailer = layout.trailer(count, default_version);
    out.write_all(&trailer).await.map_err(RedisError::Output)?;
    Ok(RedisMetadata {
        mode: Some(Mode::Logical),
        layout: Some(if as_rdb {
            metadata::Layout::RdbFromDumps
        } else {
            metadata::Layout::Logical
        }),
        point_in_time: false,
        databases: Some(dbs),
        vanished_keys: Some(vanished),
        duplicate_scan_keys: Some(duplicates),
        ..RedisMetadata::of_keys(&digest)
    })
}
