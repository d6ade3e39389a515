//! [`OpError`]: why an operation failed, and its [`Failure`] class, which the CLI turns into
//! an exit code (README, "Exit codes") without looking at any text.

use backup_core::lock::LockError;
use backup_core::{ErrorClass, StoreError};
use lifeboat_sinks::SinksError;

use crate::config::ConfigError;

/// What kind of failure an operation met, in the terms of the exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// It could not do its job (exit 1).
    Failed,
    /// The configuration or the request is wrong (exit 2).
    Usage,
    /// Another run holds the source's lock (exit 11).
    Locked,
    /// A backup cannot be decrypted: wrong or missing key (exit 12).
    Decrypt,
    /// A backup is damaged: checksum mismatch, truncated or corrupt (exit 13).
    Integrity,
}

impl Failure {
    /// How much a failure says, for a run over several items: integrity > decrypt > usage =
    /// locked > failed.
    fn weight(self) -> u8 {
        match self {
            Failure::Integrity => 4,
            Failure::Decrypt => 3,
            Failure::Usage | Failure::Locked => 2,
            Failure::Failed => 1,
        }
    }

    /// The failure that says most, of `failures` (none: `None`).
    pub fn worst(failures: impl IntoIterator<Item = Failure>) -> Option<Failure> {
        failures.into_iter().max_by_key(|f| f.weight())
    }
}

impl From<ErrorClass> for Failure {
    fn from(class: ErrorClass) -> Self {
        match class {
            ErrorClass::Failure | ErrorClass::TargetNotEmpty => Failure::Failed,
            ErrorClass::Config => Failure::Usage,
            ErrorClass::Decrypt => Failure::Decrypt,
            ErrorClass::Integrity => Failure::Integrity,
        }
    }
}

/// An operation that failed, with its causes.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The config file cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No source of that name.
    #[error("no source named `{name}` in {config} (defined: {defined})")]
    UnknownSource {
        /// The name asked for.
        name: String,
        /// The config file.
        config: String,
        /// The names it defines.
        defined: String,
    },
    /// No storage of that name.
    #[error("no storage named `{name}` (defined: {defined})")]
    UnknownStorage {
        /// The name asked for.
        name: String,
        /// The names the config defines.
        defined: String,
    },
    /// The config defines no source.
    #[error("{config} defines no [[sources]]")]
    NoSources {
        /// The config file.
        config: String,
    },
    /// A store refused a source's options when building its source, target or check.
    #[error("source `{source_name}`: {error}")]
    Store {
        /// The source.
        source_name: String,
        /// The store's refusal.
        #[source]
        error: StoreError,
    },
    /// A storage cannot be opened.
    #[error("{0}")]
    OpenStorage(#[source] SinksError),
    /// The backup, restore or check itself failed.
    #[error(transparent)]
    Pipeline(#[from] backup_core::Error),
    /// A lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// No storage of a source could be locked for a backup.
    #[error("no storage of `{source_name}` could be locked: {reasons}")]
    NothingLocked {
        /// The source.
        source_name: String,
        /// Why, per storage.
        reasons: String,
    },
    /// The selected backup does not exist.
    #[error("{which} of `{source_name}` found in storage {storages}")]
    NoBackup {
        /// `no backup` or `no backup with id ...`.
        which: String,
        /// The source.
        source_name: String,
        /// The storages looked in.
        storages: String,
    },
    /// The selected backup is in none of the storages this run may read.
    #[error("no storage holding backup {id} is configured for `{source_name}`")]
    NoCopy {
        /// The backup.
        id: String,
        /// The source.
        source_name: String,
    },
    /// The settings of `[compression]` or `[encryption]` cannot make a transform.
    #[error("[{table}]: {error}")]
    Transforms {
        /// `compression` or `encryption`.
        table: &'static str,
        /// Why (a compression or a key error).
        #[source]
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The keys to read a backup are missing or unusable.
    #[error("cannot decrypt backup {id}: {reason}")]
    Keys {
        /// The backup.
        id: String,
        /// What is missing or wrong.
        reason: String,
        /// The key file's error, when there is one.
        #[source]
        error: Option<backup_core::transform::KeyError>,
    },
    /// A file lifeboat writes (an identity, a metrics file) cannot be written.
    #[error("cannot write {path}: {error}")]
    WriteFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        error: lifeboat_edge::staged::StageError,
    },
    /// `keygen` would overwrite a key.
    #[error(
        "{path} already exists; keygen never overwrites a key (losing it loses every backup \
         encrypted to it)"
    )]
    KeyExists {
        /// The file.
        path: String,
    },
    /// The metrics cannot be encoded.
    #[error("cannot encode the metrics: {0}")]
    EncodeMetrics(#[source] std::fmt::Error),
}

impl OpError {
    /// The class of this failure, for exit codes.
    pub fn failure(&self) -> Failure {
        match self {
            OpError::Config(_)
            | OpError::UnknownSource { .. }
            | OpError::UnknownStorage { .. }
            | OpError::NoSources { .. }
            | OpError::Store { .. }
            | OpError::Transforms { .. }
            | OpError::KeyExists { .. } => Failure::Usage,
            OpError::OpenStorage(error) => match error {
                SinksError::LocalDir { .. } | SinksError::Backend { .. } => Failure::Failed,
                _ => Failure::Usage,
            },
            OpError::Pipeline(error) => error.class().into(),
            OpError::Lock(LockError::Held { .. }) => Failure::Locked,
            OpError::Lock(LockError::Storage(error)) => error.class().into(),
            OpError::Lock(_) => Failure::Failed,
            OpError::Keys { .. } => Failure::Decrypt,
            OpError::NothingLocked { .. }
            | OpError::NoBackup { .. }
            | OpError::NoCopy { .. }
            | OpError::WriteFile { .. }
            | OpError::EncodeMetrics(_) => Failure::Failed,
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the line already
/// holds (errors often name their cause in their own message).
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(err) = cause {
        let message = err.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_failure_says_most() {
        use Failure::*;
        assert_eq!(
            Failure::worst([Failed, Integrity, Decrypt]),
            Some(Integrity)
        );
        assert_eq!(Failure::worst([Failed, Locked]), Some(Locked));
        assert_eq!(Failure::worst([]), None);
    }
}
