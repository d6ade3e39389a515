//! [`RabbitmqError`]: what went wrong, on which broker (redacted), at which [`Step`]; and how it
//! maps onto the pipeline's [`StoreError`] kinds.

use std::fmt;
use std::io;

use backup_core::{StoreError, StoreErrorKind};

/// The step of a backup, restore or check an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `GET /api/overview` and the other checks of `lifeboat check`.
    Preflight,
    /// `GET /api/definitions`.
    Export,
    /// Reading the messages of a queue over AMQP.
    ReadMessages,
    /// Putting the read messages back into their queue.
    Requeue,
    /// Writing the dump into the backup pipeline.
    Write,
    /// Reading the target's current definitions to compare them with the backup.
    Diff,
    /// `POST /api/definitions` (and deleting conflicting objects with `--force`).
    Import,
    /// Republishing messages.
    Publish,
    /// Committing the republished messages.
    Commit,
    /// Creating or removing a drill's scratch vhost.
    Scratch,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Preflight => "preflight",
            Step::Export => "definitions export",
            Step::ReadMessages => "reading messages",
            Step::Requeue => "requeueing messages",
            Step::Write => "writing the dump",
            Step::Diff => "comparing definitions",
            Step::Import => "definitions import",
            Step::Publish => "publishing messages",
            Step::Commit => "committing messages",
            Step::Scratch => "scratch vhost",
        })
    }
}

/// An error of the RabbitMQ store. URLs in it are always redacted (no password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RabbitmqError {
    /// A configured URL is invalid.
    #[error("`{what}` {url} is invalid: {reason}")]
    BadUrl {
        /// Which option.
        what: &'static str,
        /// The URL, redacted.
        url: String,
        /// Why.
        reason: String,
    },

    /// An option other than a URL is invalid.
    #[error("invalid option: {0}")]
    BadOption(String),

    /// The management API cannot be reached at all.
    #[error("{step}: the RabbitMQ management API at {url} is unreachable: {reason}")]
    Unreachable {
        /// The step.
        step: Step,
        /// The management URL, without password.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },

    /// The management port refuses connections while AMQP answers on the same host.
    #[error(
        "RabbitMQ is running ({amqp} answers) but its management API at {url} refuses \
         connections: the management plugin is not enabled: run \
         `rabbitmq-plugins enable rabbitmq_management`"
    )]
    PluginMissing {
        /// The management URL, without password.
        url: String,
        /// The AMQP endpoint that answered.
        amqp: String,
    },

    /// The management API refused the login.
    #[error("wrong credentials for user `{user}` at {url} (the management API said: {reason})")]
    WrongCredentials {
        /// The user.
        user: String,
        /// The management URL, without password.
        url: String,
        /// The API's reason.
        reason: String,
    },

    /// The management API answered with an error status.
    #[error("{step}: {method} {path} at {url} failed with HTTP {status}: {reason}")]
    Http {
        /// The step.
        step: Step,
        /// GET, POST, PUT or DELETE.
        method: &'static str,
        /// The API path.
        path: String,
        /// The management URL, without password.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The API's error text.
        reason: String,
    },

    /// An HTTP request failed midway (connection dropped, bad body).
    #[error("{step}: {what} at {url} failed: {reason}")]
    Request {
        /// The step.
        step: Step,
        /// What was being done.
        what: String,
        /// The management URL, without password.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },

    /// An AMQP operation failed.
    #[error("{step}: AMQP {what} on {amqp} (vhost `{vhost}`) failed: {reason}")]
    Amqp {
        /// The step.
        step: Step,
        /// What was being done (e.g. `basic.get on queue q1`).
        what: String,
        /// The AMQP endpoint, without password.
        amqp: String,
        /// The vhost.
        vhost: String,
        /// What the broker or the client said.
        reason: String,
    },

    /// Writing the dump into the pipeline failed.
    #[error("writing the dump failed: {0}")]
    Output(#[source] io::Error),

    /// Reading the backup stream failed before its end.
    #[error("reading the backup stream failed: {0}")]
    Input(#[source] io::Error),

    /// The backup stream is not a valid dump of its format.
    #[error("the backup stream is not a valid {format} dump: {reason}")]
    Format {
        /// The dump format.
        format: &'static str,
        /// What is wrong (with a line number where there is one).
        reason: String,
    },

    /// The manifest's dump format is not one this store writes.
    #[error("this backup's dump format is `{found}`, not one of the RabbitMQ store's formats")]
    WrongDumpFormat {
        /// The manifest's `dump_format`.
        found: String,
    },

    /// The restore would change existing objects and `--force` was not given.
    #[error(
        "restore into {target} refused, nothing was changed: {} object(s) conflict with the \
         backup (use --force to overwrite them, --dry-run to see the whole diff): {}",
        conflicts.len(),
        summarize(conflicts)
    )]
    Conflicts {
        /// The target, without password.
        target: String,
        /// One line per conflicting object.
        conflicts: Vec<String>,
    },

    /// The user messages are republished as could not publish into some vhosts after the
    /// import; found while planning, before anything was changed.
    #[error(
        "restore into {target} refused, nothing was changed: the backup holds messages for \
         {} vhost(s) where user `{user}` (the AMQP user lifeboat republishes them as) would have \
         no permission to publish to the default exchange after the import: {}. Fix: grant the \
         user permissions on each vhost before restoring (create the vhost first if the backup \
         creates it, then e.g. `rabbitmqctl set_permissions -p <vhost> {user} '' \
         '^amq\\.default$' ''`, or '.*' '.*' '.*'), or restore a backup that holds this user's \
         permissions on those vhosts, or restore as a user that has them (`username`, or \
         credentials in `amqp_url`)",
        denied.len(),
        summarize(denied)
    )]
    NoPublishPermission {
        /// The target, without password.
        target: String,
        /// The AMQP user.
        user: String,
        /// One line per vhost: `vhost `v`: reason`.
        denied: Vec<String>,
    },

    /// Republished messages were returned unroutable or refused by the broker.
    #[error("{count} message(s) republished into vhost `{vhost}` were not routed to a queue (first: queue `{queue}`: {reason})")]
    NotRouted {
        /// The vhost.
        vhost: String,
        /// The first queue concerned.
        queue: String,
        /// How many.
        count: usize,
        /// The broker's reply text.
        reason: String,
    },

    /// A drill or check found counts that differ from the manifest.
    #[error("{what}: the manifest says {expected}, the backup/restore has {actual}")]
    Mismatch {
        /// What was counted.
        what: String,
        /// The manifest's count.
        expected: String,
        /// The count found.
        actual: String,
    },
}

fn summarize(items: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > SHOWN {
        text.push_str(&format!("; and {} more", items.len() - SHOWN));
    }
    text
}

impl RabbitmqError {
    /// The [`StoreErrorKind`] this error maps to (and so the CLI's exit code).
    ///
    /// - `Config`: invalid URLs or options, a backup of another dump format;
    /// - `TargetNotEmpty`: conflicts on restore without `--force` (nothing was changed);
    /// - `Corrupt`: an invalid dump, counts that differ from the manifest, an `InvalidData`
    ///   error from the stream (checksum mismatch or truncation);
    /// - `Failed`: everything else (unreachable broker, wrong credentials, HTTP/AMQP errors).
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            RabbitmqError::BadUrl { .. }
            | RabbitmqError::BadOption(_)
            | RabbitmqError::WrongDumpFormat { .. } => StoreErrorKind::Config,
            RabbitmqError::Conflicts { .. } => StoreErrorKind::TargetNotEmpty,
            RabbitmqError::Format { .. } | RabbitmqError::Mismatch { .. } => {
                StoreErrorKind::Corrupt
            }
            RabbitmqError::Input(e) if e.kind() == io::ErrorKind::InvalidData => {
                StoreErrorKind::Corrupt
            }
            _ => StoreErrorKind::Failed,
        }
    }

    /// A format error.
    pub(crate) fn format(format: &'static str, reason: impl Into<String>) -> Self {
        RabbitmqError::Format {
            format,
            reason: reason.into(),
        }
    }
}

impl From<RabbitmqError> for StoreError {
    fn from(err: RabbitmqError) -> Self {
        StoreError::new(err.kind(), err)
    }
}
