//! [`PostgresError`]: what went wrong, on which server (redacted URL), at which step; and how
//! it maps onto the pipeline's [`StoreError`] kinds.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use backup_core::{StoreError, StoreErrorKind};
use lifeboat_edge::tls::TlsError;
use lifeboat_edge::Scrubbed;
use tokio_postgres::error::SqlState;

use crate::conn::ConnInfo;

/// The step of a backup, restore or check an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Reading the server's version, size and schema for `lifeboat check`.
    Preflight,
    /// Opening the REPEATABLE READ transaction and exporting its snapshot.
    Snapshot,
    /// Resolving `tables` / `exclude_tables` patterns.
    Tables,
    /// Counting rows in the snapshot.
    RowCounts,
    /// Hashing the schema.
    SchemaHash,
    /// Listing the databases of the server.
    Databases,
    /// Checking whether a restore target holds data.
    TargetState,
    /// Creating a restore target or scratch database.
    CreateDatabase,
    /// Dropping a scratch database (or one a failed restore created).
    DropDatabase,
    /// Comparing a restored database with the manifest.
    Compare,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Preflight => "preflight",
            Step::Snapshot => "exporting the snapshot",
            Step::Tables => "resolving table patterns",
            Step::RowCounts => "counting rows",
            Step::SchemaHash => "hashing the schema",
            Step::Databases => "listing databases",
            Step::TargetState => "checking the restore target",
            Step::CreateDatabase => "creating the database",
            Step::DropDatabase => "dropping the database",
            Step::Compare => "comparing with the manifest",
        })
    }
}

/// An error of the PostgreSQL store. Server URLs in it are always redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The `url` option (or a `--to` URL) is not a usable postgres URL.
    #[error("invalid postgres URL {url}: {problem}")]
    BadUrl {
        /// The URL without its secrets.
        url: String,
        /// What is wrong.
        #[source]
        problem: UrlError,
    },

    /// Another option is invalid.
    #[error("option `{option}`: {reason}")]
    BadOption {
        /// The option's key.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// The server could not be reached or refused the login.
    #[error("cannot connect to {server}: {source}{}", hint_suffix(hint))]
    Connect {
        /// The redacted URL.
        server: String,
        /// What the server or the network said (scrubbed of the password; the
        /// [`ServerError`] stays reachable with `source.find::<ServerError>()`).
        #[source]
        source: Scrubbed,
        /// What to do about a rejected certificate.
        hint: Option<TlsHint>,
    },

    /// TLS could not be set up (root certificate file unreadable or empty).
    #[error("TLS for {server}: {source}")]
    Tls {
        /// The redacted URL.
        server: String,
        /// What is wrong.
        #[source]
        source: TlsError,
    },

    /// A query failed.
    #[error("{step} on {server} failed: {source}")]
    Query {
        /// The step.
        step: Step,
        /// The redacted URL.
        server: String,
        /// What the server said.
        #[source]
        source: ServerError,
    },

    /// A client tool could not be started.
    #[error("cannot run `{program}`: {source} (is the PostgreSQL client installed and on PATH, or `bin_dir` set?)")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },

    /// A client tool failed (non-zero exit, killed by a signal).
    #[error("`{command}` on {server} failed ({status}){}", stderr_suffix(stderr))]
    Tool {
        /// The command line (no secrets: those travel in the environment).
        command: String,
        /// The redacted URL.
        server: String,
        /// How it ended.
        status: ExitStatus,
        /// The end of its stderr (scrubbed of the password).
        stderr: String,
    },

    /// pg_dump succeeded but wrote nothing.
    #[error(
        "`{command}` on {server} wrote no data: refusing an empty dump{}",
        stderr_suffix(stderr)
    )]
    EmptyDump {
        /// The command line.
        command: String,
        /// The redacted URL.
        server: String,
        /// The end of its stderr.
        stderr: String,
    },

    /// The client tools are older than the server.
    #[error("{tool} {client_version} is older than the server {server} (PostgreSQL {server_version}); install the client tools of version {server_major} or newer, or point `bin_dir` at them")]
    ClientTooOld {
        /// The tool.
        tool: String,
        /// Its version.
        client_version: String,
        /// The redacted URL.
        server: String,
        /// The server's version.
        server_version: String,
        /// The server's major version.
        server_major: u32,
    },

    /// The output of a tool did not look like its version.
    #[error("cannot read the version of `{program}` from {output:?}")]
    BadToolVersion {
        /// The program.
        program: String,
        /// What it printed.
        output: String,
    },

    /// Writing the dump into the backup stream failed.
    #[error("writing the dump of {server} into the backup stream failed: {source}")]
    Output {
        /// The redacted URL.
        server: String,
        /// The error.
        source: io::Error,
    },

    /// Reading the backup stream failed (an `InvalidData` error means a bad artifact).
    #[error("reading the backup stream failed: {source}")]
    Input {
        /// The error.
        source: io::Error,
    },

    /// Writing into a restore tool's stdin failed.
    #[error("feeding the dump to `{command}` failed: {source}")]
    Feed {
        /// The command.
        command: String,
        /// The error.
        source: io::Error,
    },

    /// A local file operation (staging for `pg_restore -j`) failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },

    /// The restore target holds data and `--force` was not given.
    #[error("restore target {server} is not empty ({found}); nothing was changed (use --force to restore over it, or --to another database)")]
    TargetNotEmpty {
        /// The redacted URL of the target database.
        server: String,
        /// Some of what it holds.
        found: String,
    },

    /// `--force` over a non-empty database with a plain SQL dump, which cannot clean.
    #[error("restore target {server} is not empty and this backup is a plain SQL dump, which cannot drop what exists; restore --to an empty database instead")]
    PlainCannotClean {
        /// The redacted URL of the target database.
        server: String,
    },

    /// Restored row counts differ from the manifest.
    #[error("database `{database}` does not match the manifest after restore: {}", differences.join("; "))]
    RowCounts {
        /// The database.
        database: String,
        /// One line per differing table.
        differences: Vec<String>,
    },

    /// The restored schema differs from the manifest's schema hash.
    #[error("database `{database}`: the restored schema hash {actual} differs from the manifest's {expected}")]
    SchemaHash {
        /// The database.
        database: String,
        /// From the manifest.
        expected: String,
        /// Of the restored database.
        actual: String,
    },

    /// The stream is not a valid dump of its format.
    #[error("the backup is not a valid {format}: {reason}")]
    BadDump {
        /// The dump format.
        format: String,
        /// What is wrong.
        reason: String,
    },

    /// The manifest metadata is not what this store writes.
    #[error("the manifest metadata is not postgres store metadata: {source}")]
    BadManifest {
        /// Why it does not read.
        #[source]
        source: backup_core::ManifestError,
    },

    /// The manifest lists no database.
    #[error("the manifest lists no database")]
    NoDatabase,

    /// The backup's dump format is not one of this store's.
    #[error("this backup's dump format is `{found}`, which the postgres store cannot restore")]
    WrongDumpFormat {
        /// The manifest's dump format.
        found: String,
    },

    /// A spawned task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(": {trimmed}")
    }
}

impl PostgresError {
    /// A failed query at `step` on `conn`.
    pub(crate) fn query(step: Step, conn: &ConnInfo, error: tokio_postgres::Error) -> Self {
        PostgresError::Query {
            step,
            server: conn.describe(),
            source: ServerError(error),
        }
    }

    /// The [`StoreErrorKind`] this error maps to (and so the CLI's exit code):
    /// `Config` for bad options, URLs and dump formats; `TargetNotEmpty` for a target holding
    /// data; `Corrupt` for a stream that is not a valid dump or does not match its manifest;
    /// `Failed` for everything else.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            PostgresError::BadUrl { .. }
            | PostgresError::BadOption { .. }
            | PostgresError::Tls { .. }
            | PostgresError::WrongDumpFormat { .. } => StoreErrorKind::Config,
            PostgresError::TargetNotEmpty { .. } | PostgresError::PlainCannotClean { .. } => {
                StoreErrorKind::TargetNotEmpty
            }
            PostgresError::RowCounts { .. }
            | PostgresError::SchemaHash { .. }
            | PostgresError::BadDump { .. }
            | PostgresError::BadManifest { .. }
            | PostgresError::NoDatabase => StoreErrorKind::Corrupt,
            PostgresError::Input { source } if source.kind() == io::ErrorKind::InvalidData => {
                StoreErrorKind::Corrupt
            }
            _ => StoreErrorKind::Failed,
        }
    }
}

impl From<PostgresError> for StoreError {
    fn from(err: PostgresError) -> Self {
        StoreError::new(err.kind(), err)
    }
}

fn hint_suffix(hint: &Option<TlsHint>) -> String {
    hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
}

/// What is wrong with a postgres URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a `postgres://` or `postgresql://` URL.
    #[error("expected postgres://user[:password]@host[:port]/database")]
    Scheme,
    /// tokio-postgres cannot read it (scrubbed of the URL's password).
    #[error("{0}")]
    Parse(#[source] Scrubbed),
    /// More than one host.
    #[error("only one host is supported")]
    Hosts,
    /// More than one port.
    #[error("only one port is supported")]
    Ports,
    /// No user in the URL, and none in the environment.
    #[error("no user in the URL (and neither PGUSER nor USER set)")]
    NoUser,
    /// An `sslmode` libpq does not know.
    #[error(
        "unknown sslmode `{0}` (expected disable, allow, prefer, require, verify-ca or verify-full)"
    )]
    SslMode(String),
    /// A query parameter's percent-encoding does not decode.
    #[error("the value of `{key}`: {source}")]
    Escape {
        /// The parameter.
        key: &'static str,
        /// Why.
        #[source]
        source: lifeboat_edge::percent::DecodeError,
    },
}

/// What to do about a certificate the handshake rejected, told by the rustls error's type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsHint {
    /// `verify-full`: the certificate does not name the host connected to.
    WrongName {
        /// The host of the URL.
        host: String,
    },
    /// The chain leads to no trusted root.
    UnknownIssuer {
        /// The trusted roots' file, when one was given.
        ca_file: Option<PathBuf>,
    },
}

impl fmt::Display for TlsHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsHint::WrongName { host } => write!(
                f,
                "the server's certificate does not name the host `{host}`: connect by a name \
                 the certificate lists, or use sslmode=verify-ca to check the chain only"
            ),
            TlsHint::UnknownIssuer {
                ca_file: Some(path),
            } => write!(
                f,
                "the server's certificate is not signed by a certificate in {}",
                path.display()
            ),
            TlsHint::UnknownIssuer { ca_file: None } => f.write_str(
                "the server's certificate is not signed by a root the system trusts: point \
                 `sslrootcert` (URL) or `tls_ca_file` at the CA certificate (PEM)",
            ),
        }
    }
}

/// A tokio-postgres error, shown on one line: a server's error as its severity, message and
/// detail; any other error with its causes. [`ServerError::code`] is the SQLSTATE, for
/// matching by type rather than by text.
#[derive(Debug)]
pub struct ServerError(pub tokio_postgres::Error);

impl ServerError {
    /// The server's SQLSTATE, when the server reported the error.
    pub fn code(&self) -> Option<&SqlState> {
        self.0.code()
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(db) = self.0.as_db_error() {
            write!(f, "{}: {}", db.severity(), db.message())?;
            if let Some(detail) = db.detail() {
                write!(f, " ({detail})")?;
            }
            return Ok(());
        }
        write!(f, "{}", self.0)?;
        let mut cause = std::error::Error::source(&self.0);
        while let Some(inner) = cause {
            write!(f, ": {inner}")?;
            cause = inner.source();
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // A server's error is whole in the text above (its `DbError` stays reachable through
        // `self.0.as_db_error()`); any other error keeps its cause chain.
        match self.0.as_db_error() {
            Some(_) => None,
            None => std::error::Error::source(&self.0),
        }
    }
}
