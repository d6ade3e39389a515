//! [`RedisError`]: what went wrong, against which server (redacted URL) and at which step; and
//! how it maps onto the pipeline's [`StoreError`] kinds.

use std::io;
use std::path::PathBuf;

use backup_core::{StoreError, StoreErrorKind};

/// An error of the Redis store, with the server (its URL without secrets) and the step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// An option is invalid (bad URL, unknown mode, ...).
    #[error("invalid redis options: {0}")]
    Config(String),

    /// The server could not be reached or the connection failed.
    #[error("redis {server}: {step} failed: {message}")]
    Connection {
        /// The redacted server URL.
        server: String,
        /// What was being done.
        step: &'static str,
        /// What went wrong.
        message: String,
    },

    /// The server rejected the credentials.
    #[error("redis {server}: authentication failed: {message}")]
    Auth {
        /// The redacted server URL.
        server: String,
        /// The server's answer.
        message: String,
    },

    /// A command returned an error.
    #[error("redis {server}: {command} failed: {message}")]
    Command {
        /// The redacted server URL.
        server: String,
        /// The command (never its arguments).
        command: String,
        /// The server's answer.
        message: String,
    },

    /// The server refused to send a snapshot over the replication protocol (managed Redis,
    /// ACL without `SYNC`).
    #[error(
        "redis {server} refused the replication snapshot (SYNC): {message}; \
         set mode = \"logical\" (or fallback = \"logical\") for servers that do not allow SYNC"
    )]
    SyncRefused {
        /// The redacted server URL.
        server: String,
        /// The server's answer.
        message: String,
    },

    /// The replication stream ended or broke before the whole snapshot arrived.
    #[error("redis {server}: the snapshot transfer broke off after {bytes} bytes: {message}")]
    TransferBroken {
        /// The redacted server URL.
        server: String,
        /// Bytes of RDB received.
        bytes: u64,
        /// What happened.
        message: String,
    },

    /// The dump (from the server or from a backup) is not a valid RDB / logical dump.
    #[error("invalid {format} stream at byte {offset}: {message}")]
    Format {
        /// `rdb` or `redis-logical`.
        format: &'static str,
        /// Where in the stream.
        offset: u64,
        /// What is wrong.
        message: String,
    },

    /// The dump holds something this store cannot handle (module values, ...).
    #[error("unsupported content in the {format} stream at byte {offset}: {message}")]
    Unsupported {
        /// `rdb` or `redis-logical`.
        format: &'static str,
        /// Where in the stream.
        offset: u64,
        /// What it is.
        message: String,
    },

    /// Reading the backup stream failed (a checksum mismatch or decryption error upstream, or
    /// a truncated artifact).
    #[error("reading the backup stream failed: {0}")]
    Input(#[source] io::Error),

    /// Writing the dump into the pipeline failed.
    #[error("writing the dump failed: {0}")]
    Output(#[source] io::Error),

    /// The target server cannot load the payloads of this backup (its RDB version is older).
    #[error(
        "redis {server} runs Redis {target_version}, which cannot load RDB version \
         {rdb_version} payloads from this backup (source Redis {source_version}, needs Redis \
         {needs} or newer); restore into a newer server or use `--to PATH` for a file restore"
    )]
    TargetTooOld {
        /// The redacted target URL.
        server: String,
        /// The target's `redis_version`.
        target_version: String,
        /// The dump's RDB version.
        rdb_version: u32,
        /// The source's `redis_version` (from the manifest), or "unknown".
        source_version: String,
        /// The first Redis version that loads `rdb_version`.
        needs: &'static str,
    },

    /// The restore target already holds keys (or the file exists) and `--force` was not given.
    #[error("restore target {target} is not empty ({what}); nothing was changed (use --force to restore into it, replacing keys with the same name)")]
    TargetNotEmpty {
        /// The redacted URL or path.
        target: String,
        /// What is there.
        what: String,
    },

    /// A key appeared on the target during the restore (a concurrent writer).
    #[error("redis {server}: key {key} in db {db} already exists on the target (written by someone else during the restore?); keys restored so far remain")]
    KeyExists {
        /// The redacted target URL.
        server: String,
        /// The db index.
        db: u32,
        /// The key (lossy UTF-8).
        key: String,
    },

    /// A file operation (restore `--to PATH`, scratch server directory) failed.
    #[error("{step} {}: {source}", path.display())]
    Io {
        /// What was being done.
        step: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// The manifest metadata does not match what the dump or the restored server holds.
    #[error("integrity mismatch: {0}")]
    Mismatch(String),

    /// The scratch server for a restore drill could not be started.
    #[error("restore drill: {0}")]
    Drill(String),
}

impl RedisError {
    /// The [`StoreErrorKind`] this error converts to.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            RedisError::Config(_) => StoreErrorKind::Config,
            RedisError::TargetNotEmpty { .. } => StoreErrorKind::TargetNotEmpty,
            RedisError::Format { .. } | RedisError::Mismatch(_) => StoreErrorKind::Corrupt,
            RedisError::Input(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                StoreErrorKind::Corrupt
            }
            _ => StoreErrorKind::Failed,
        }
    }
}

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> Self {
        StoreError::new(e.kind(), e)
    }
}
