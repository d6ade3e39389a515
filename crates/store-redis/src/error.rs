//! [`RedisError`]: what went wrong, against which server (redacted URL) and at which step, with
//! the cause it came from; and how it maps onto the pipeline's [`StoreError`] kinds.

use std::io;
use std::path::PathBuf;

use backup_core::{ManifestError, StoreError, StoreErrorKind};
use lifeboat_edge::deprecation::BothNames;
use lifeboat_edge::staged::StageError;
use lifeboat_edge::tls::TlsError;
use lifeboat_edge::Scrubbed;

use crate::resp::ProtocolError;
use crate::scratch::ScratchError;
use crate::ServerError;

/// An error of the Redis store, with the server (its URL without secrets) and the step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// An option value is invalid (a bad combination, an unusable restore target, ...).
    #[error("invalid redis options: {0}")]
    Config(String),

    /// A renamed key is set under both its old and its new name.
    #[error("invalid redis options: {0}")]
    Renamed(#[from] BothNames),

    /// The server URL cannot be used.
    #[error("invalid redis options: url {url}: {problem}")]
    Url {
        /// The URL without secrets.
        url: String,
        /// What is wrong with it.
        #[source]
        problem: UrlProblem,
    },

    /// The URL's host cannot be a TLS server name.
    #[error("invalid redis options: {server}: `{host}` is not a valid TLS server name")]
    ServerName {
        /// The redacted server URL.
        server: String,
        /// The host.
        host: String,
        /// What rustls said.
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },

    /// `tls_ca_file` cannot be used.
    #[error("invalid redis options: tls_ca_file: {0}")]
    TlsCaFile(#[source] TlsError),

    /// rustls refused the TLS configuration.
    #[error("invalid redis options: {server}: TLS setup: {source}")]
    TlsSetup {
        /// The redacted server URL.
        server: String,
        /// What rustls said.
        #[source]
        source: TlsError,
    },

    /// The server could not be reached, or the connection failed.
    #[error("redis {server}: {step} failed: {source}")]
    Connection {
        /// The redacted server URL.
        server: String,
        /// What was being done.
        step: &'static str,
        /// What went wrong (a timeout is `TimedOut`, a closed connection `UnexpectedEof`).
        #[source]
        source: io::Error,
    },

    /// The client library (fred) failed: its text goes through [`Scrubbed`], as it may echo
    /// the arguments of `AUTH`.
    #[error("redis {server}: {step} failed: {source}")]
    Client {
        /// The redacted server URL.
        server: String,
        /// What was being done.
        step: &'static str,
        /// fred's error.
        #[source]
        source: Scrubbed,
    },

    /// The server sent something that is not RESP.
    #[error("redis {server}: raw command connection failed: {source}")]
    Protocol {
        /// The redacted server URL.
        server: String,
        /// What is wrong with it.
        #[source]
        source: ProtocolError,
    },

    /// The TLS handshake failed on the server's certificate.
    #[error(
        "redis {server}: TLS handshake failed: the server's TLS certificate was rejected \
         ({source}); set tls_ca_file to the CA certificate that signed it (or tls_insecure = \
         true, for testing only)"
    )]
    CertificateRejected {
        /// The redacted server URL.
        server: String,
        /// rustls's verdict (`InvalidCertificate(...)`).
        #[source]
        source: rustls::Error,
    },

    /// The server rejected the credentials.
    #[error("redis {server}: authentication failed: {source}")]
    Auth {
        /// The redacted server URL.
        server: String,
        /// The server's answer (a [`ServerError`], or fred's error), scrubbed of the password.
        #[source]
        source: Scrubbed,
    },

    /// A command failed.
    #[error("redis {server}: {command} failed: {source}")]
    Command {
        /// The redacted server URL.
        server: String,
        /// The command (never its arguments).
        command: String,
        /// Why.
        #[source]
        source: ReplyError,
    },

    /// The server refused to send a snapshot over the replication protocol (managed Redis,
    /// ACL without `SYNC`).
    #[error(
        "redis {server} refused the replication snapshot (SYNC): {source}; \
         set mode = \"logical\" (or fallback = \"logical\") for servers that do not allow SYNC"
    )]
    SyncRefused {
        /// The redacted server URL.
        server: String,
        /// The server's answer.
        #[source]
        source: ServerError,
    },

    /// The replication stream ended or broke before the whole snapshot arrived.
    #[error("redis {server}: the snapshot transfer broke off after {bytes} bytes: {source}")]
    TransferBroken {
        /// The redacted server URL.
        server: String,
        /// Bytes of RDB received.
        bytes: u64,
        /// What happened.
        #[source]
        source: io::Error,
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

    /// The manifest names a dump format this store does not write.
    #[error("dump format `{format}` is not a redis format")]
    UnknownFormat {
        /// The manifest's `dump_format`.
        format: String,
    },

    /// The manifest's metadata is not the metadata of a Redis backup.
    #[error("the manifest's redis metadata cannot be read: {0}")]
    Metadata(#[source] ManifestError),

    /// Reading the backup stream failed (a checksum mismatch or decryption error upstream, or
    /// a truncated artifact).
    #[error("reading the backup stream failed: {0}")]
    Input(#[source] io::Error),

    /// Writing the dump into the pipeline (or a restored file) failed.
    #[error("writing the dump failed: {0}")]
    Output(#[source] io::Error),

    /// The temporary file a logical backup sorts a db's key names in failed (a full or
    /// unwritable `TMPDIR`).
    #[error("the logical backup's key list failed: {0}")]
    KeySpill(#[from] crate::key_sorter::SpillError),

    /// The blocking task sorting a db's key names panicked or was cancelled.
    #[error("the logical backup's key list failed: {0}")]
    KeySorterTask(#[source] tokio::task::JoinError),

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

    /// Staging the `dump.rdb` of a file restore (`--to PATH`) failed.
    #[error("restore to {}: {source}", path.display())]
    Stage {
        /// The file restored to.
        path: PathBuf,
        /// Why.
        #[source]
        source: StageError,
    },

    /// The manifest metadata does not match what the dump or the restored server holds.
    #[error("integrity mismatch: {0}")]
    Mismatch(String),

    /// The scratch server for a restore drill could not be started.
    #[error("restore drill: {0}")]
    Drill(#[source] ScratchError),
}

/// What is wrong with a server URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlProblem {
    /// It is not a URL.
    #[error("{0}")]
    Parse(#[source] url::ParseError),
    /// Its scheme is not `redis` or `rediss`.
    #[error("scheme `{0}` is not redis:// or rediss://")]
    Scheme(String),
    /// It has no host.
    #[error("no host")]
    NoHost,
    /// It has a query or a fragment (which nothing would read, and which may hold a secret).
    #[error(
        "query parameters are not supported; use the options (username, password, \
         tls_ca_file, ...)"
    )]
    Query,
    /// Its path is not a db index.
    #[error("the path must be a db index, e.g. /0")]
    Db,
    /// Its user name or password is not valid percent-encoded UTF-8.
    #[error("bad percent-encoding in the credentials")]
    Credentials(#[source] lifeboat_edge::percent::DecodeError),
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The server answered with an error.
    #[error("{0}")]
    Server(#[source] ServerError),
    /// The client library failed (its text scrubbed of the password).
    #[error("{0}")]
    Client(#[source] Scrubbed),
    /// The reply is not of the shape the command has.
    #[error("{0}")]
    Unexpected(String),
}

impl RedisError {
    /// The [`StoreErrorKind`] this error converts to.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            RedisError::Config(_)
            | RedisError::Renamed(_)
            | RedisError::Url { .. }
            | RedisError::ServerName { .. }
            | RedisError::TlsCaFile(_)
            | RedisError::TlsSetup { .. }
            | RedisError::UnknownFormat { .. } => StoreErrorKind::Config,
            RedisError::TargetNotEmpty { .. } => StoreErrorKind::TargetNotEmpty,
            RedisError::Format { .. } | RedisError::Mismatch(_) | RedisError::Metadata(_) => {
                StoreErrorKind::Corrupt
            }
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
