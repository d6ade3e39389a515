//! Exit codes (README, "Exit codes") and the errors of the binary itself. The mapping from
//! an operation's typed outcome to a code is here and nowhere else.

use std::process::ExitCode;

use lifeboat::{Failure, OpError, Verdict};

/// The exit codes users and scripts depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: success.
    Success = 0,
    /// 1: failure.
    Failure = 1,
    /// 2: usage or configuration error.
    Usage = 2,
    /// 3: some sources failed, others succeeded.
    Partial = 3,
    /// 4: `status` found something unhealthy.
    Unhealthy = 4,
    /// 11: another run holds the source's lock.
    Locked = 11,
    /// 12: cannot decrypt (wrong or missing key).
    Decrypt = 12,
    /// 13: integrity failure.
    Integrity = 13,
}

impl From<Failure> for Exit {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Failed => Exit::Failure,
            Failure::Usage => Exit::Usage,
            Failure::Locked => Exit::Locked,
            Failure::Decrypt => Exit::Decrypt,
            Failure::Integrity => Exit::Integrity,
        }
    }
}

impl From<Verdict> for Exit {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Success => Exit::Success,
            Verdict::Partial => Exit::Partial,
            Verdict::Failed(failure) => failure.into(),
        }
    }
}

impl Exit {
    /// The code of a run over items that each succeeded (`None`) or failed, without the
    /// partial code (verify, prune, list: any failure fails the run).
    pub fn worst(failures: impl IntoIterator<Item = Option<Failure>>) -> Exit {
        Failure::worst(failures.into_iter().flatten()).map_or(Exit::Success, Exit::from)
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A command that failed: an operation's error, or the binary's own.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An operation failed.
    #[error(transparent)]
    Op(#[from] OpError),
    /// `--id` is not a backup id.
    #[error("--id: {0}")]
    BadId(#[source] backup_core::InvalidBackupId),
    /// `init` would overwrite a config.
    #[error("{path} already exists; lifeboat init never overwrites a config")]
    ConfigExists {
        /// The file.
        path: String,
    },
    /// A file the binary writes itself cannot be written.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The daemon cannot listen.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The daemon cannot watch its signals.
    #[error("cannot watch signals: {0}")]
    Signals(#[source] std::io::Error),
    /// JSON output cannot be encoded.
    #[error("cannot encode JSON: {0}")]
    Json(#[source] serde_json::Error),
}

impl CliError {
    /// The exit code of this error.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Op(error) => error.failure().into(),
            CliError::BadId(_) | CliError::ConfigExists { .. } => Exit::Usage,
            CliError::Write { .. }
            | CliError::Listen { .. }
            | CliError::Signals(_)
            | CliError::Json(_) => Exit::Failure,
        }
    }
}

impl From<lifeboat::config::ConfigError> for CliError {
    fn from(error: lifeboat::config::ConfigError) -> Self {
        CliError::Op(error.into())
    }
}
