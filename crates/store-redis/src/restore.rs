//! A restore into a server: the dump's keys sent as pipelined `RESTORE key ttl payload
//! ABSTTL` batches on a raw connection (one batch executes while the next is read and
//! built), or, for a dry run, as `EXISTS` batches that count the conflicts. See
//! [`crate::target`] for what a failure midway leaves behind.

use backup_core::{Manifest, Report, RestoreOptions};
use serde_json::json;
use tokio::io::AsyncRead;

use crate::digest::{type_name, KeyDigest};
use crate::dump_keys::{DumpKeys, Next};
use crate::endpoint::Endpoint;
use crate::error::ReplyError;
use crate::format::DumpFormat;
use crate::info::ServerInfo;
use crate::raw::RawConn;
use crate::rdb_version::{rdb_version_for_redis, redis_for_rdb_version};
use crate::resp::{self, Reply};
use crate::server_error::ErrorCode;
use crate::target::metadata_of;
use crate::{now_ms, RedisError, ServerError};

/// What a restore into a server did.
#[derive(Debug, Default)]
pub(crate) struct RestoreStats {
    /// The restored keys (or, in a dry run, the keys that would be).
    pub restored: KeyDigest,
    /// The restored keys that have a TTL (they may expire on the target at any moment).
    pub restored_volatile: KeyDigest,
    /// Keys whose TTL had passed: skipped.
    pub expired: u64,
    /// Keys that exist on the target (dry run only).
    pub conflicts: u64,
    /// Function libraries loaded.
    pub functions: u64,
    /// Every key of the dump (incl. expired ones), to compare with the manifest.
    pub dump: KeyDigest,
}

impl RestoreStats {
    /// The restore's report.
    pub fn report(&self, ep: &Endpoint, dry_run: bool, ms: u64) -> Report {
        let summary = if dry_run {
            format!(
                "dry run: would restore {} keys into {} ({} exist already, {} expired keys skipped); nothing was changed",
                self.restored.keys(),
                ep.redacted(),
                self.conflicts,
                self.expired
            )
        } else {
            format!(
                "restored {} keys into {} ({} expired keys skipped)",
                self.restored.keys(),
                ep.redacted(),
                self.expired
            )
        };
        Report {
            summary,
            details: json!({
                "target": ep.redacted(),
                "dry_run": dry_run,
                "keys": self.restored.keys(),
                "keys_per_db": self.restored.per_db_json(),
                "expired_skipped": self.expired,
                "conflicts": self.conflicts,
                "functions": self.functions,
                "restore_ms": ms,
            }),
        }
    }
}

/// A batch of `RESTORE` (or, for a dry run, `EXISTS`) commands: its keys and the encoded
/// commands, sent in one write.
struct Batch {
    db: u32,
    keys: Vec<Vec<u8>>,
    cmds: Vec<u8>,
    bytes: usize,
}

/// Restores the dump read from `input` into `ep` (see the module docs for what a failure
/// leaves behind).
pub(crate) async fn restore_into(
    ep: &Endpoint,
    input: &mut (dyn AsyncRead + Send + Unpin),
    m: &Manifest,
    o: &RestoreOptions,
    pipeline: usize,
) -> Result<RestoreStats, RedisError> {
    // A raw connection: a batch of RESTOREs goes out in one write, without a client-side
    // cost per command.
    let mut raw = RawConn::connect(ep).await?;
    let result = restore_with(&mut raw, input, m, o, pipeline).await;
    raw.close().await;
    result
}

async fn restore_with(
    conn: &mut RawConn,
    input: &mut (dyn AsyncRead + Send + Unpin),
    m: &Manifest,
    o: &RestoreOptions,
    pipeline: usize,
) -> Result<RestoreStats, RedisError> {
    let info = conn.call("INFO", &[]).await?;
    let info = ServerInfo::parse(&String::from_utf8_lossy(info.bytes().unwrap_or_default()));
    let target_version = info.version();
    let source_version = metadata_of(m)?.source_version().to_string();
    let mut entries = DumpKeys::open(input, DumpFormat::of(m)?).await?;
    let mut stats = RestoreStats::default();
    let mut current_db: Option<u32> = None;
    let mut pending: Option<Batch> = None;
    let mut batch: Option<Batch> = None;
    let mut rdb_version: Option<u32> = None;
    let mut ctx = Ctx {
        conn,
        dry_run: o.dry_run,
        force: o.force,
        target_version: &target_version,
        source_version: &source_version,
    };
    loop {
        let key = match entries.next().await? {
            Next::End => break,
            Next::Function(code) => {
                stats.functions += 1;
                if !o.dry_run {
                    let mut args: Vec<&[u8]> = vec![b"LOAD"];
                    if o.force {
                        args.push(b"REPLACE");
                    }
                    args.push(&code);
                    ctx.conn.call("FUNCTION", &args).await?;
                }
                continue;
            }
            Next::Key(k) => k,
        };
        let version = *rdb_version.get_or_insert_with(|| entries.rdb_version(Some(&key.payload)));
        if let Some(max) = rdb_version_for_redis(&target_version) {
            if version > max {
                return Err(too_old(&ctx, version));
            }
        }
        let has_ttl = key.expire_ms.is_some();
        stats
            .dump
            .add(key.db, &key.key, type_name(key.payload[0]), has_ttl);
        if key.expire_ms.is_some_and(|e| e <= now_ms()) {
            stats.expired += 1;
            continue;
        }
        stats
            .restored
            .add(key.db, &key.key, type_name(key.payload[0]), has_ttl);
        if has_ttl {
            stats
                .restored_volatile
                .add(key.db, &key.key, type_name(key.payload[0]), true);
        }
        if batch.as_ref().is_some_and(|b| b.db != key.db) {
            if let Some(b) = batch.take() {
                pending = Some(send_batch(&mut ctx, pending.take(), b, version, &mut stats).await?);
            }
        }
        if current_db != Some(key.db) {
            if let Some(p) = pending.take() {
                check_batch(&mut ctx, p, version, &mut stats).await?;
            }
            ctx.conn
                .call("SELECT", &[key.db.to_string().as_bytes()])
                .await?;
            current_db = Some(key.db);
        }
        let b = batch.get_or_insert_with(|| Batch {
            db: key.db,
            keys: Vec::with_capacity(pipeline),
            cmds: Vec::with_capacity(64 * 1024),
            bytes: 0,
        });
        b.bytes += key.payload.len() + key.key.len();
        if ctx.dry_run {
            resp::command(&[b"EXISTS", &key.key], &mut b.cmds);
        } else {
            let ttl = key.expire_ms.unwrap_or(0).to_string();
            let mut args: Vec<&[u8]> = vec![
                b"RESTORE",
                &key.key,
                ttl.as_bytes(),
                &key.payload,
                b"ABSTTL",
            ];
            if ctx.force {
                args.push(b"REPLACE");
            }
            resp::command(&args, &mut b.cmds);
        }
        b.keys.push(key.key);
        if b.keys.len() >= pipeline || b.bytes >= 8 << 20 {
            if let Some(b) = batch.take() {
                pending = Some(send_batch(&mut ctx, pending.take(), b, version, &mut stats).await?);
            }
        }
    }
    let version = rdb_version.unwrap_or(0);
    if let Some(b) = batch.take() {
        pending = Some(send_batch(&mut ctx, pending.take(), b, version, &mut stats).await?);
    }
    if let Some(p) = pending.take() {
        check_batch(&mut ctx, p, version, &mut stats).await?;
    }
    Ok(stats)
}

struct Ctx<'a> {
    conn: &'a mut RawConn,
    dry_run: bool,
    force: bool,
    target_version: &'a str,
    source_version: &'a str,
}

fn too_old(ctx: &Ctx<'_>, version: u32) -> RedisError {
    RedisError::TargetTooOld {
        server: ctx.conn.server.clone(),
        target_version: ctx.target_version.to_string(),
        rdb_version: version,
        source_version: ctx.source_version.to_string(),
        needs: redis_for_rdb_version(version),
    }
}

/// Waits for the batch in flight, then sends `batch` (so one batch executes while the next
/// is read and built).
async fn send_batch(
    ctx: &mut Ctx<'_>,
    pending: Option<Batch>,
    batch: Batch,
    version: u32,
    stats: &mut RestoreStats,
) -> Result<Batch, RedisError> {
    if let Some(p) = pending {
        check_batch(ctx, p, version, stats).await?;
    }
    let mut batch = batch;
    ctx.conn.send(&batch.cmds).await?;
    batch.cmds = Vec::new();
    Ok(batch)
}

/// Reads the replies of a sent batch, in order.
async fn check_batch(
    ctx: &mut Ctx<'_>,
    batch: Batch,
    version: u32,
    stats: &mut RestoreStats,
) -> Result<(), RedisError> {
    // Every reply is read before an error is returned, so the connection stays in step.
    let mut first_error: Option<RedisError> = None;
    for key in &batch.keys {
        let reply = ctx.conn.reply().await?;
        if first_error.is_some() {
            continue;
        }
        match reply {
            Reply::Int(n) if ctx.dry_run && n > 0 => stats.conflicts += 1,
            Reply::Error(text) => {
                let error = ServerError::new(text);
                first_error = Some(if error.code() == ErrorCode::BusyKey {
                    RedisError::KeyExists {
                        server: ctx.conn.server.clone(),
                        db: batch.db,
                        key: lifeboat_edge::shown::excerpt(key),
                    }
                } else if error.is_bad_payload() {
                    too_old(ctx, version)
                } else {
                    RedisError::Command {
                        server: ctx.conn.server.clone(),
                        command: if ctx.dry_run { "EXISTS" } else { "RESTORE" }.to_string(),
                        source: ReplyError::Server(error),
                    }
                });
            }
            _ => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
