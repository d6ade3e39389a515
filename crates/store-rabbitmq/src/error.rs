//! [`RabbitmqError`]: what went wrong, on which broker (redacted), at which [`Step`], with the
//! library's error as its cause; [`Malformed`]: what is wrong with a document or a dump; and
//! how both map onto the pipeline's [`StoreError`] kinds.

use std::fmt;
use std::io;

use backup_core::{ManifestError, StoreError, StoreErrorKind};
use lifeboat_edge::shown::Shown;
use lifeboat_edge::Scrubbed;

use crate::fields::HeaderError;
use crate::scan::ScanError;

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

/// An error of the RabbitMQ store. URLs in it are always redacted (no password), and texts of
/// the AMQP client are scrubbed of the password.
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

    /// A configured URL does not parse.
    #[error("`{what}` {url} is invalid: {source}")]
    UnparsableUrl {
        /// Which option.
        what: &'static str,
        /// The URL, redacted (`<unparsable URL>`).
        url: String,
        /// The parser's error.
        #[source]
        source: url::ParseError,
    },

    /// A URL's user or password is not valid percent-encoded UTF-8.
    #[error("`{what}` {url} is invalid: its credentials: {source}")]
    BadUrlEncoding {
        /// Which option.
        what: &'static str,
        /// The URL, redacted.
        url: String,
        /// The decoder's error.
        #[source]
        source: lifeboat_edge::percent::DecodeError,
    },

    /// An option other than a URL is invalid.
    #[error("invalid option: {0}")]
    BadOption(String),

    /// The TLS set-up of the management API failed (`tls_ca_file` cannot be used).
    #[error("TLS for the management API: {0}")]
    Tls(#[source] lifeboat_edge::tls::TlsError),

    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client of the management API: {0}")]
    HttpClient(#[source] reqwest::Error),

    /// The management API cannot be reached at all.
    #[error(
        "{step}: the RabbitMQ management API at {url} is unreachable: {}",
        chain_text(source)
    )]
    Unreachable {
        /// The step.
        step: Step,
        /// The management URL, without password.
        url: String,
        /// The HTTP client's error (without the request URL).
        #[source]
        source: reqwest::Error,
    },

    /// The management API's TLS certificate was rejected.
    #[error(
        "{step}: the TLS certificate of the RabbitMQ management API at {url} was rejected \
         ({problem}): set `tls_ca_file` to the CA certificate that signed it (or \
         `tls_insecure = true`, for testing only)"
    )]
    Certificate {
        /// The step.
        step: Step,
        /// The management URL, without password.
        url: String,
        /// What rustls found wrong with the certificate.
        problem: rustls::CertificateError,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
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
        /// The API's reason (scrubbed of the password).
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
        /// The API's error text (scrubbed of the password).
        reason: String,
    },

    /// An HTTP request failed midway (connection dropped, a body that is not the JSON
    /// expected).
    #[error("{step}: {what} at {url} failed: {}", chain_text(source))]
    Request {
        /// The step.
        step: Step,
        /// What was being done.
        what: String,
        /// The management URL, without password.
        url: String,
        /// The HTTP client's error (without the request URL).
        #[source]
        source: reqwest::Error,
    },

    /// The broker sent a definitions document that is not one.
    #[error("{step}: {what} at {url} failed: the broker sent an invalid definitions document: {problem}")]
    BadDocument {
        /// The step.
        step: Step,
        /// What was being read.
        what: String,
        /// The management URL, without password.
        url: String,
        /// What is wrong with it.
        #[source]
        problem: Malformed,
    },

    /// An AMQP operation failed.
    #[error("{step}: AMQP {what} on {amqp} (vhost `{vhost}`) failed: {}", chain_text(&**source))]
    Amqp {
        /// The step.
        step: Step,
        /// What was being done (e.g. `basic.get on queue q1`).
        what: String,
        /// The AMQP endpoint, without password.
        amqp: String,
        /// The vhost.
        vhost: String,
        /// The AMQP client's error (a `lapin::Error`, reachable with `find`), scrubbed.
        #[source]
        source: Box<Scrubbed>,
    },

    /// Writing the dump into the pipeline failed.
    #[error("writing the dump failed: {0}")]
    Output(#[source] io::Error),

    /// Reading the backup stream failed before its end.
    #[error("reading the backup stream failed: {0}")]
    Input(#[source] io::Error),

    /// The backup stream is not a valid dump of its format.
    #[error("the backup stream is not a valid {format} dump: {}{problem}", at_line(*line))]
    Format {
        /// The dump format.
        format: &'static str,
        /// The line of a messages dump the problem is on.
        line: Option<u64>,
        /// What is wrong.
        #[source]
        problem: Malformed,
    },

    /// The manifest's dump format is not one this store writes.
    #[error("this backup's dump format is `{found}`, not one of the RabbitMQ store's formats")]
    WrongDumpFormat {
        /// The manifest's `dump_format`.
        found: String,
    },

    /// The manifest's metadata is not what this store writes.
    #[error("the manifest's RabbitMQ metadata cannot be read: {0}")]
    Metadata(#[source] ManifestError),

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

    /// A message's queue does not exist on the target (checked before its first message).
    #[error(
        "messages republished into vhost `{vhost}` are not routed to a queue: queue `{queue}` \
         does not exist on the target: {}", chain_text(&**source)
    )]
    QueueMissing {
        /// The vhost.
        vhost: String,
        /// The queue.
        queue: String,
        /// The passive declare's error, scrubbed.
        #[source]
        source: Box<Scrubbed>,
    },

    /// Republished messages were returned unroutable by the broker at the commit.
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

/// What is wrong with a definitions document (from the broker or a dump) or a line of a
/// messages dump.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The document's structure (braces, brackets, commas).
    #[error(transparent)]
    Structure(#[from] ScanError),
    /// A top-level field is not valid JSON.
    #[error("field `{key}` is not valid JSON: {source}")]
    Field {
        /// The field (an escaped excerpt: the dump may hold anything).
        key: String,
        /// The parser's error, escaped and capped (the `serde_json::Error` is reachable with
        /// [`Shown::get`]).
        #[source]
        source: Shown,
    },
    /// An element of a section is not valid JSON.
    #[error("an element of `{section}` is not valid JSON: {source}")]
    Element {
        /// The section (`queues`, ...), an escaped excerpt.
        section: String,
        /// The parser's error, escaped and capped.
        #[source]
        source: Shown,
    },
    /// An element of a known section is valid JSON but not an object.
    #[error("an element of `{section}` is not a JSON object: {value}")]
    NotAnObject {
        /// The section.
        section: String,
        /// An escaped, capped excerpt of the element.
        value: String,
    },
    /// A line of a messages dump is not a message or a trailer.
    #[error("not a message or trailer line: {0}")]
    Line(#[source] Shown),
    /// A message's payload is not base64.
    #[error("bad base64 payload: {0}")]
    Payload(#[source] base64::DecodeError),
    /// A message's headers cannot be turned back into an AMQP field table.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// Anything else (a missing header line, counts that differ, a truncated dump...).
    #[error("{0}")]
    Invalid(String),
}

impl Malformed {
    /// A problem described by this crate's own words.
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Malformed::Invalid(reason.into())
    }
}

/// An error's text with the texts of its causes, e.g. `error sending request: client error
/// (Connect): tcp connect error: Connection refused`: the messages above show them on one
/// line (`lifeboat check` shows only an error's own text), the causes stay a chain.
pub(crate) fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

fn at_line(line: Option<u64>) -> String {
    line.map(|n| format!("line {n}: ")).unwrap_or_default()
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
    /// - `Config`: invalid URLs or options, an unusable `tls_ca_file`, a backup of another
    ///   dump format;
    /// - `TargetNotEmpty`: conflicts on restore without `--force` (nothing was changed);
    /// - `Corrupt`: an invalid dump, counts that differ from the manifest, unreadable
    ///   metadata, an `InvalidData` error from the stream (checksum mismatch or truncation);
    /// - `Failed`: everything else (unreachable broker, a rejected certificate, wrong
    ///   credentials, HTTP/AMQP errors).
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            RabbitmqError::BadUrl { .. }
            | RabbitmqError::UnparsableUrl { .. }
            | RabbitmqError::BadUrlEncoding { .. }
            | RabbitmqError::BadOption(_)
            | RabbitmqError::Tls(_)
            | RabbitmqError::HttpClient(_)
            | RabbitmqError::WrongDumpFormat { .. } => StoreErrorKind::Config,
            RabbitmqError::Conflicts { .. } => StoreErrorKind::TargetNotEmpty,
            RabbitmqError::Format { .. }
            | RabbitmqError::Mismatch { .. }
            | RabbitmqError::Metadata(_) => StoreErrorKind::Corrupt,
            RabbitmqError::Input(e) if e.kind() == io::ErrorKind::InvalidData => {
                StoreErrorKind::Corrupt
            }
            _ => StoreErrorKind::Failed,
        }
    }
}

impl From<RabbitmqError> for StoreError {
    fn from(err: RabbitmqError) -> Self {
        StoreError::new(err.kind(), err)
    }
}
