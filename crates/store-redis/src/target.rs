//! [`RedisTarget`]: restore into a live server with pipelined `RESTORE` (from an RDB snapshot
//! parsed into per-key `DUMP` payloads, or from a logical dump), or write the raw `dump.rdb`
//! to a path.
//!
//! Redis cannot stage a restore: keys become visible as their `RESTORE` runs. What a failure
//! midway (a truncated or corrupt artifact, a dropped connection) leaves behind: every key of
//! the batches restored before the failure stays on the target; the target's other keys are
//! untouched (without `--force` the receiving dbs were empty, so everything there came from
//! this backup and `FLUSHDB` undoes it; with `--force` keys of the same name were replaced).
//! A file restore (`--to PATH`) is staged beside the path and renamed only after the whole
//! stream was read and checked, so it never leaves a partial file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use async_trait::async_trait;
use backup_core::{Manifest, Report, RestoreOptions, StoreError, Target};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::conn::{Conn, ServerInfo};
use crate::digest::{type_name, KeyDigest};
use crate::logical::LogicalReader;
use crate::options::Endpoint;
use crate::raw::RawConn;
use crate::rdb::{rdb_version_for_redis, redis_for_rdb_version, Item, RdbParser};
use crate::resp::{self, Reply};
use crate::source::now_ms;
use crate::{RedisError, RedisOptions, FORMAT_LOGICAL, FORMAT_RDB};

/// Where a restore goes.
#[derive(Debug, Clone)]
enum Dest {
    Server(Endpoint),
    File(PathBuf),
}

/// The restore side: the source's own server (the URL's db is ignored: every key goes back
/// to its own db index), another server (`--to redis://...`), or a file (`--to PATH`, RDB
/// backups only).
#[derive(Debug)]
pub struct RedisTarget {
    dest: Dest,
    pipeline: usize,
}

impl RedisTarget {
    /// A target for the source with `options`, or `to` (a `redis://`/`rediss://` URL or a
    /// file path) instead of the source's own server.
    pub fn new(options: &RedisOptions, to: Option<&str>) -> Result<Self, RedisError> {
        let dest = match to {
            None => Dest::Server(options.endpoint()?),
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                let mut ep = Endpoint::parse(url)?;
                ep.connect_timeout =
                    std::time::Duration::from_secs(options.connect_timeout_secs.max(1));
                // The source's TLS settings apply to a `--to rediss://` server too.
                ep.tls_ca_file = options.tls_ca_file.clone();
                ep.tls_insecure = options.tls_insecure;
                Dest::Server(ep)
            }
            Some(path) if path.contains("://") => {
                return Err(RedisError::Config(format!(
                    "restore target {}: only redis:// or rediss:// URLs or file paths",
                    crate::options::redact_url(path)
                )))
            }
            Some(path) => Dest::File(PathBuf::from(path)),
        };
        Ok(Self {
            dest,
            pipeline: options.pipeline.max(1),
        })
    }
}

fn check_format(m: &Manifest) -> Result<(), RedisError> {
    if m.dump_format == FORMAT_RDB || m.dump_format == FORMAT_LOGICAL {
        Ok(())
    } else {
        Err(RedisError::Config(format!(
            "this backup's dump format is `{}`, not `rdb` or `redis-logical`",
            m.dump_format
        )))
    }
}

/// The dbs the manifest says hold keys (`None`: unknown).
fn manifest_dbs(m: &Manifest) -> Option<Vec<u32>> {
    let o = m.metadata.get("keys_per_db")?.as_object()?;
    Some(
        o.iter()
            .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
            .filter_map(|(db, _)| db.parse().ok())
            .collect(),
    )
}

#[async_trait]
impl Target for RedisTarget {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    fn describe(&self) -> String {
        match &self.dest {
            Dest::Server(ep) => ep.redacted(),
            Dest::File(p) => p.display().to_string(),
        }
    }

    async fn prepare(&self, m: &Manifest, o: &RestoreOptions) -> Result<(), StoreError> {
        check_format(m)?;
        match &self.dest {
            Dest::File(path) => {
                if m.dump_format != FORMAT_RDB {
                    return Err(RedisError::Config(
                        "a logical backup can only be restored into a server (--to redis://...)"
                            .into(),
                    )
                    .into());
                }
                if path.is_dir() {
                    return Err(RedisError::Config(format!(
                        "{} is a directory; give the dump.rdb file path",
                        path.display()
                    ))
                    .into());
                }
                if path.exists() && !o.force && !o.dry_run {
                    return Err(RedisError::TargetNotEmpty {
                        target: path.display().to_string(),
                        what: "the file exists".into(),
                    }
                    .into());
                }
                Ok(())
            }
            Dest::Server(ep) => {
                let conn = Conn::connect(ep).await?;
                let info = conn.info().await;
                conn.close().await;
                let info = info?;
                let wanted = manifest_dbs(m);
                let busy: Vec<String> = info
                    .keyspace
                    .iter()
                    .filter(|(db, n)| **n > 0 && wanted.as_ref().is_none_or(|w| w.contains(db)))
                    .map(|(db, n)| format!("db{db}: {n} keys"))
                    .collect();
                if !busy.is_empty() && !o.force && !o.dry_run {
                    return Err(RedisError::TargetNotEmpty {
                        target: ep.redacted(),
                        what: busy.join(", "),
                    }
                    .into());
                }
                Ok(())
            }
        }
    }

    async fn restore(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        m: &Manifest,
        o: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        check_format(m)?;
        let started = Instant::now();
        match &self.dest {
            Dest::File(path) => Ok(restore_file(path, input, o).await?),
            Dest::Server(ep) => {
                let stats = restore_into(ep, input, m, o, self.pipeline).await?;
                Ok(stats.report(ep, o.dry_run, started.elapsed().as_millis() as u64))
            }
        }
    }
}

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
    fn report(&self, ep: &Endpoint, dry_run: bool, ms: u64) -> Report {
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

/// The keys of a dump, from either format.
enum Entries<'a> {
    Rdb(RdbParser<&'a mut (dyn AsyncRead + Send + Unpin)>),
    Logical(LogicalReader<&'a mut (dyn AsyncRead + Send + Unpin)>),
}

/// One key to restore.
struct Key {
    db: u32,
    key: Vec<u8>,
    expire_ms: Option<i64>,
    payload: Vec<u8>,
}

enum Next {
    Key(Key),
    Function(Vec<u8>),
    End,
}

impl Entries<'_> {
    async fn next(&mut self) -> Result<Next, RedisError> {
        match self {
            Entries::Rdb(p) => match p.next().await? {
                Some(Item::Entry(e)) => Ok(Next::Key(Key {
                    db: e.db,
                    key: e.key,
                    expire_ms: e.expire_ms,
                    payload: e.payload.unwrap_or_default(),
                })),
                Some(Item::Function(code)) => Ok(Next::Function(code.unwrap_or_default())),
                None => {
                    p.expect_end().await?;
                    Ok(Next::End)
                }
            },
            Entries::Logical(r) => match r.next().await? {
                Some(rec) => {
                    crate::logical::check_payload(&rec.payload).map_err(|message| {
                        RedisError::Format {
                            format: FORMAT_LOGICAL,
                            offset: 0,
                            message,
                        }
                    })?;
                    Ok(Next::Key(Key {
                        db: rec.db,
                        key: rec.key,
                        expire_ms: rec.expire_ms,
                        payload: rec.payload,
                    }))
                }
                None => Ok(Next::End),
            },
        }
    }

    fn rdb_version(&self, first_payload: Option<&[u8]>) -> u32 {
        match self {
            Entries::Rdb(p) => p.version,
            Entries::Logical(_) => first_payload
                .and_then(|p| crate::logical::check_payload(p).ok())
                .map(u32::from)
                .unwrap_or(0),
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
    let source_version = m
        .metadata
        .pointer("/server/version")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .to_string();
    let mut entries = if m.dump_format == FORMAT_RDB {
        Entries::Rdb(RdbParser::open(input, true).await?)
    } else {
        Entries::Logical(LogicalReader::open(input).await?)
    };
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
                first_error = Some(if text.contains("BUSYKEY") {
                    RedisError::KeyExists {
                        server: ctx.conn.server.clone(),
                        db: batch.db,
                        key: String::from_utf8_lossy(key).into_owned(),
                    }
                } else if text.contains("payload version or checksum") {
                    too_old(ctx, version)
                } else {
                    RedisError::Command {
                        server: ctx.conn.server.clone(),
                        command: if ctx.dry_run { "EXISTS" } else { "RESTORE" }.to_string(),
                        message: text,
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

/// `--to PATH`: the raw RDB into a temporary file beside `path`, checked while it is written
/// (magic, every value, CRC64), renamed over `path` only then.
async fn restore_file(
    path: &Path,
    input: &mut (dyn AsyncRead + Send + Unpin),
    o: &RestoreOptions,
) -> Result<Report, RedisError> {
    let started = Instant::now();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io = |step: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| RedisError::Io {
            step,
            path: p,
            source,
        }
    };
    let (summary, bytes, staged) = if o.dry_run {
        let (summary, bytes) = tee_check(input, None).await?;
        (summary, bytes, None)
    } else {
        let staged = tempfile::Builder::new()
            .prefix(".lifeboat-restore-")
            .suffix(".rdb.tmp")
            .tempfile_in(&dir)
            .map_err(io("creating a staging file in", &dir))?;
        let mut file = tokio::fs::File::from_std(
            staged
                .as_file()
                .try_clone()
                .map_err(io("opening the staging file", staged.path()))?,
        );
        let (summary, bytes) = tee_check(input, Some(&mut file)).await?;
        file.sync_all()
            .await
            .map_err(io("syncing the staging file", staged.path()))?;
        (summary, bytes, Some(staged))
    };
    if let Some(staged) = staged {
        if o.force {
            staged.persist(path).map_err(|e| RedisError::Io {
                step: "renaming the staged dump to",
                path: path.to_path_buf(),
                source: e.error,
            })?;
        } else {
            staged.persist_noclobber(path).map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    RedisError::TargetNotEmpty {
                        target: path.display().to_string(),
                        what: "the file exists".into(),
                    }
                } else {
                    RedisError::Io {
                        step: "renaming the staged dump to",
                        path: path.to_path_buf(),
                        source: e.error,
                    }
                }
            })?;
        }
    }
    Ok(Report {
        summary: if o.dry_run {
            format!(
                "dry run: would write a {bytes}-byte dump.rdb ({} keys) to {}; nothing was changed",
                summary.keys(),
                path.display()
            )
        } else {
            format!(
                "wrote {} ({bytes} bytes, {} keys); load it by placing it as the server's dump.rdb (dir/dbfilename) while the server is stopped",
                path.display(),
                summary.keys()
            )
        },
        details: json!({
            "path": path.display().to_string(),
            "bytes": bytes,
            "keys": summary.keys(),
            "keys_per_db": summary.per_db_json(),
            "dry_run": o.dry_run,
            "restore_ms": started.elapsed().as_millis() as u64,
        }),
    })
}

/// Reads `input` to EOF, writing it to `file` (if any) while a parser checks it.
async fn tee_check(
    input: &mut (dyn AsyncRead + Send + Unpin),
    mut file: Option<&mut tokio::fs::File>,
) -> Result<(KeyDigest, u64), RedisError> {
    let (pipe_w, pipe_r) = tokio::io::duplex(256 * 1024);
    let copy = async move {
        let mut pipe_w = pipe_w;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = input.read(&mut buf).await.map_err(RedisError::Input)?;
            if n == 0 {
                break;
            }
            if let Some(f) = file.as_mut() {
                f.write_all(&buf[..n]).await.map_err(RedisError::Output)?;
            }
            if pipe_w.write_all(&buf[..n]).await.is_err() {
                break; // the parser stopped: its error is reported
            }
            total += n as u64;
        }
        let _ = pipe_w.shutdown().await;
        Ok::<_, RedisError>(total)
    };
    let parse = async move { crate::check::digest_rdb(pipe_r).await };
    let (c, p) = tokio::join!(copy, parse);
    let total = c?;
    let (digest, _) = p?;
    Ok((digest, total))
}
