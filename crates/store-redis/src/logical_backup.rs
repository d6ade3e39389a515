//! The `logical` backup (and the `rdb` fallback): per selected db on a raw connection, `SCAN`
//! every key into a [`KeySorter`] (each key once, in bounded memory), then `DUMP` + `PTTL` of
//! the sorted keys pipelined in batches, records written as they arrive.

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::digest::{type_name, KeyDigest};
use crate::endpoint::Endpoint;
use crate::error::ReplyError;
use crate::info::ServerInfo;
use crate::key_sorter::{KeySorter, SortedKeys, MEMORY};
use crate::layout::Layout;
use crate::metadata;
use crate::options::Mode;
use crate::raw::RawConn;
use crate::resp::{self, Reply};
use crate::sorted_scan::{blocking, finish, next_batch};
use crate::{now_ms, RedisError, RedisMetadata, RedisOptions, ServerError};

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

/// The commands of one batch: `DUMP k` + `PTTL k` per key.
fn dump_commands(keys: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
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
/// connection, db by db: every key `SCAN` returns goes into a [`KeySorter`] (keys `SCAN`
/// returns twice are kept once, and counted), then the sorted keys' `DUMP`/`PTTL` go out in
/// batches of `scan_count`, two batches in flight (the server works on the next while this
/// one's replies are read and written), records written as they arrive. Keys that vanish
/// between `SCAN` and `DUMP` are skipped and counted.
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

/// Every key of the selected db, each once, sorted.
async fn scan_keys(raw: &mut RawConn, scan_count: &[u8]) -> Result<SortedKeys, RedisError> {
    let mut sorter = KeySorter::new(MEMORY, std::env::temp_dir());
    let mut cursor = b"0".to_vec();
    loop {
        let reply = raw.call("SCAN", &[&cursor, b"COUNT", scan_count]).await?;
        let (next, keys) = scan_reply(&raw.server, reply)?;
        for key in &keys {
            if sorter.push(key) {
                sorter = blocking(sorter, |sorter| sorter.spill()).await?;
            }
        }
        if next == b"0" {
            break;
        }
        cursor = next;
    }
    finish(sorter).await
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
    let scan_count = options.scan_count.to_string();
    let batch_size = options.scan_count.max(1) as usize;
    let mut commands = Vec::with_capacity(64 * 1024);
    for db in &dbs {
        raw.call("SELECT", &[db.to_string().as_bytes()]).await?;
        let keys = scan_keys(raw, scan_count.as_bytes()).await?;
        let (mut keys, mut batch) = next_batch(keys, batch_size).await?;
        if !batch.is_empty() {
            dump_commands(&batch, &mut commands);
            raw.send(&commands).await?;
        }
        while !batch.is_empty() {
            let (rest, next) = next_batch(keys, batch_size).await?;
            keys = rest;
            if !next.is_empty() {
                dump_commands(&next, &mut commands);
                raw.send(&commands).await?;
            }
            tally.page(raw, *db, &batch, out).await?;
            batch = next;
        }
        duplicates += keys.duplicates();
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
