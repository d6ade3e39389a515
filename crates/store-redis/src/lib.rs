//! # store-redis
//!
//! lifeboat's Redis store: point-in-time RDB snapshots streamed over the replication
//! protocol, portable logical backups, and restores into any reachable Redis.
//!
//! - [`RedisSource`] with `mode = "rdb"` (the default) does what `redis-cli --rdb` does on a
//!   raw connection — `AUTH`, `REPLCONF capa eof`, `REPLCONF rdb-only 1`, `SYNC` — and
//!   streams the snapshot (sized bulk or diskless `EOF:<mark>` form) into the pipeline without
//!   a temporary file, while an in-process parser checks the `REDIS00xx` header, every opcode
//!   and value encoding and the trailing CRC64, and computes the key digest for the manifest.
//!   A dropped connection or a bad checksum fails the backup. Dump format `rdb` (extension
//!   `rdb`): the RDB bytes exactly as the server sent them, so `restore --to PATH` (or a
//!   manual recovery) is just the file.
//! - With `mode = "logical"` it `SCAN`s every db (or `databases`) and pipelines `DUMP` +
//!   `PTTL` per page on a raw RESP connection (one write per page, the next page in flight
//!   while this one's replies are written out), writing the `redis-logical` format (extension `rlog`, documented in
//!   [`logical`](crate#the-redis-logical-format) below). Not point-in-time; works where
//!   `SYNC` is refused (managed Redis). With `fallback = "logical"` an `rdb` backup that the
//!   server refuses turns into a key-by-key one whose `DUMP` payloads are assembled into a valid
//!   RDB file (so the dump format stays `rdb`; the manifest says `fallback_from` and
//!   `point_in_time: false`).
//! - [`RedisTarget`] restores into a live server with pipelined `RESTORE key ttl payload
//!   ABSTTL` (the RDB stream is parsed into per-key `DUMP` payloads: an RDB value's encoding
//!   plus the RDB version and a CRC64), skipping expired keys, refusing receiving dbs that hold
//!   keys unless `--force` (then `REPLACE`), or writes the raw `dump.rdb` to `--to PATH`.
//! - [`RedisCheck`] parses a whole dump offline and compares it with the manifest;
//!   [`RedisDrill`] restores it into a scratch `redis-server` and compares again.
//!
//! `rediss://` URLs use TLS (rustls, ring) on every connection — fred's command connections
//! and the raw `SYNC` / logical ones — verified against `tls_ca_file` or the Mozilla roots;
//! `tls_insecure = true` skips verification (with a warning in the log).
//!
//! The manifest metadata ([`RedisMetadata`]) holds the server (version, role, memory,
//! keyspace, persistence), the mode, `point_in_time`, the key count per db and an
//! order-independent digest of every (db, key, type, ttl-present), so an RDB dump, a logical
//! dump and a live server compare.
//!
//! ## The redis-logical format
//!
//! ```text
//! header   "lifeboat-redis-logical 1\n"
//! record   'K'  db: u32 BE  keylen: u32 BE  key  expiry: i64 BE (absolute Unix ms, -1 = none)
//!               payloadlen: u32 BE  payload (a DUMP payload: type, value, RDB version, CRC64)
//! trailer  'E'  count: u64 BE (records before it); nothing may follow
//! ```
//!
//! ## Restore and failures
//!
//! Redis cannot stage a restore. A failure midway (corrupt or truncated artifact, dropped
//! connection) leaves the keys of the batches restored before it on the target; nothing else
//! is touched. Without `--force` the receiving dbs were empty before, so `FLUSHDB` on them
//! undoes a partial restore.
//!
//! # Example
//!
//! ```no_run
//! use backup_core::Source;
//! use lifeboat_edge::Secret;
//! use store_redis::{RedisMetadata, RedisOptions, RedisSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut options = RedisOptions::from_url("redis://127.0.0.1:6379");
//! options.password = std::env::var("REDIS_PASSWORD").ok().map(Secret::new);
//! options.connect_timeout = Some("5s".parse()?);
//! let source = RedisSource::new(options)?;
//! println!("Redis {:?}", source.preflight().await?.version);
//!
//! // Any tokio AsyncWrite will do; the backup pipeline passes its compressor here.
//! let mut dump = Vec::new();
//! let dumped = source.backup(&mut dump).await?;
//! assert!(dump.starts_with(b"REDIS"));
//! let metadata: RedisMetadata = serde_json::from_value(dumped.metadata)?;
//! println!("{} keys, digest {:?}", metadata.keys, metadata.digest);
//! # Ok(())
//! # }
//! ```

mod check;
mod conn;
mod digest;
mod drill;
mod dump_keys;
mod endpoint;
mod error;
mod file_restore;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod info;
mod input;
mod key_sorter;
mod layout;
mod logical;
mod logical_backup;
mod lzf;
mod metadata;
mod options;
mod raw;
mod rdb;
mod rdb_backup;
mod rdb_version;
mod repl;
mod resp;
mod restore;
mod scratch;
mod scratch_pidfile;
mod server_error;
mod sorted_scan;
mod source;
mod store;
mod target;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

pub use check::RedisCheck;
pub use drill::RedisDrill;
pub use error::{RedisError, ReplyError, UrlProblem};
pub use format::DumpFormat;
pub use key_sorter::SpillError;
pub use metadata::{Layout, Persistence, RedisMetadata, ServerMetadata};
pub use options::{Mode, RedisOptions};
pub use resp::ProtocolError;
pub use scratch::ScratchError;
pub use server_error::{ErrorCode, ServerError};
pub use source::RedisSource;
pub use store::{Redis, DESCRIPTOR};
pub use target::RedisTarget;

/// The `kind` this store answers to in `lifeboat.toml`.
pub const KIND: &str = "redis";

/// The dump format of `mode = "rdb"`: the raw RDB snapshot.
pub const FORMAT_RDB: &str = "rdb";

/// The dump format of `mode = "logical"`: see the [crate docs](crate#the-redis-logical-format).
pub const FORMAT_LOGICAL: &str = "redis-logical";

/// The dump formats this store writes (the manifest's `dump_format`).
pub const FORMATS: &[&str] = &[FORMAT_RDB, FORMAT_LOGICAL];

/// The time now in Unix milliseconds (expiries in dumps are absolute).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
