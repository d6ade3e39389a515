//! Exit codes (DESIGN.md section 5) and the error type commands return.

use std::process::ExitCode;

use backup_core::ErrorClass;

use crate::config::ConfigError;

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

impl Exit {
    /// For a run over several items: the code that says most (integrity > decrypt > failure).
    pub fn worst(codes: impl IntoIterator<Item = Exit>) -> Exit {
        codes
            .into_iter()
            .max_by_key(|code| match code {
                Exit::Integrity => 5,
                Exit::Decrypt => 4,
                Exit::Usage => 3,
                Exit::Locked => 3,
                Exit::Failure => 2,
                Exit::Partial | Exit::Unhealthy => 1,
                Exit::Success => 0,
            })
            .unwrap_or(Exit::Success)
    }

    /// The code of a pipeline error.
    pub fn of(error: &backup_core::Error) -> Exit {
        match error.class() {
            ErrorClass::Failure | ErrorClass::TargetNotEmpty => Exit::Failure,
            ErrorClass::Config => Exit::Usage,
            ErrorClass::Decrypt => Exit::Decrypt,
            ErrorClass::Integrity => Exit::Integrity,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// The error and its causes on one line, leaving out a cause whose text the line already
/// holds (our errors often name their cause in their own message).
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

/// A command's failure: what to print and which code to exit with.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// The error, printed with its causes.
    pub error: anyhow::Error,
}

impl CliError {
    /// The message with its causes, for humans.
    pub fn message(&self) -> String {
        describe(self.error.as_ref())
    }

    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Self {
            exit: Exit::Usage,
            error: anyhow::anyhow!("{message}"),
        }
    }

    /// A failure (exit 1).
    pub fn failure(message: impl std::fmt::Display) -> Self {
        Self {
            exit: Exit::Failure,
            error: anyhow::anyhow!("{message}"),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(error: ConfigError) -> Self {
        Self {
            exit: Exit::Usage,
            error: error.into(),
        }
    }
}

impl From<backup_core::Error> for CliError {
    fn from(error: backup_core::Error) -> Self {
        Self {
            exit: Exit::of(&error),
            error: error.into(),
        }
    }
}
