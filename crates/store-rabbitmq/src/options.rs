//! [`RabbitmqOptions`]: the config keys of a `kind = "rabbitmq"` source (their doc comments are
//! the config reference), and the checks they get before any I/O.

use std::path::PathBuf;

use lifeboat_edge::{Secret, SecretUrl};
use serde::Deserialize;

use crate::error::RabbitmqError;

/// The largest [`RabbitmqOptions::max_messages_per_queue`].
///
/// A queue's messages are read by a consumer that holds all of them unacknowledged until one
/// `basic.nack(multiple, requeue)` puts them back in order, so the consumer's prefetch window
/// must cover every message taken. AMQP's prefetch count is 16 bits; a larger limit would need
/// an unlimited window, in which the broker pushes the *whole* queue (not just the limit) into
/// the client's unbounded delivery buffer. Capping the limit at the largest window keeps the
/// backup's memory bounded by `max_messages_per_queue` messages.
pub const MAX_MESSAGES_PER_QUEUE: u64 = u16::MAX as u64;

/// The default of [`RabbitmqOptions::max_messages_per_queue`]: the largest value.
pub const DEFAULT_MAX_MESSAGES_PER_QUEUE: u64 = MAX_MESSAGES_PER_QUEUE;

/// The default AMQP port, used when `amqp_url` is not given.
pub const DEFAULT_AMQP_PORT: u16 = 5672;

/// The options of a `kind = "rabbitmq"` source (the keys of its `[[sources]]` table).
///
/// ```toml
/// [[sources]]
/// name = "broker"
/// kind = "rabbitmq"
/// url = "https://backup:${RABBITMQ_PASSWORD}@rabbit.internal:15671"
/// vhosts = ["orders", "billing"]   # default: the whole broker
/// messages = true                   # default: definitions only
/// max_messages_per_queue = 65535    # the most (and the default)
/// tls_ca_file = "./rabbit-ca.pem"   # https://: a private CA (default: the web PKI roots)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RabbitmqOptions {
    /// The management API (the `rabbitmq_management` plugin), e.g.
    /// `http://user:password@127.0.0.1:15672` or `https://...:15671`. Required. The user
    /// needs the `administrator` tag to export and import definitions. Credentials may also
    /// be given with `username` and `password`.
    pub url: SecretUrl,
    /// The management (and AMQP) user, when not in `url`; overrides the user in `url`.
    #[serde(default)]
    pub username: Option<String>,
    /// The user's password, when not in `url` (e.g. `"${RABBITMQ_PASSWORD}"`); overrides the
    /// password in `url`. Never logged or written to a manifest.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The virtual hosts to back up (their queues, exchanges, bindings, policies, parameters
    /// and permissions, and the users holding those permissions). Default: the whole broker.
    #[serde(default)]
    pub vhosts: Option<Vec<String>>,
    /// Also back up the messages waiting in durable classic and quorum queues (best effort,
    /// not point-in-time; see the crate documentation). Default `false`: definitions only.
    #[serde(default)]
    pub messages: bool,
    /// With `messages = true`: at most this many messages are taken from each queue (the
    /// oldest ones); the metadata says when a queue held more. 1 to 65535, default 65535
    /// (AMQP's largest prefetch window: every message read is held unacknowledged until the
    /// queue is put back, and memory stays bounded by this many messages).
    #[serde(default = "default_max_messages")]
    pub max_messages_per_queue: u64,
    /// The AMQP endpoint for messages, e.g. `amqp://127.0.0.1:5672`. Default: the management
    /// URL's host on port 5672 with the same credentials. Credentials in this URL override
    /// the management ones for AMQP. Only plain `amqp://` is supported.
    #[serde(default)]
    pub amqp_url: Option<SecretUrl>,
    /// `https://`: a PEM file with the CA certificate(s) to trust instead of the built-in
    /// Mozilla roots (webpki-roots). The server's certificate must also name the URL's host
    /// (DNS name or IP address). A relative path is relative to the config file's folder.
    /// Also used for `restore --to https://...`.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// `https://`: accept any server certificate without verification (testing only; the
    /// connection is still encrypted, and every run logs a warning).
    #[serde(default)]
    pub tls_insecure: bool,
}

fn default_max_messages() -> u64 {
    DEFAULT_MAX_MESSAGES_PER_QUEUE
}

impl RabbitmqOptions {
    /// Options for the management API at `url`, with every other key at its default.
    pub fn new(url: impl Into<SecretUrl>) -> Self {
        Self {
            url: url.into(),
            username: None,
            password: None,
            vhosts: None,
            messages: false,
            max_messages_per_queue: DEFAULT_MAX_MESSAGES_PER_QUEUE,
            amqp_url: None,
            tls_ca_file: None,
            tls_insecure: false,
        }
    }

    /// Checks the keys that need no I/O (the URLs are checked when they are resolved into
    /// endpoints).
    pub(crate) fn check(&self) -> Result<(), RabbitmqError> {
        if self.vhosts.as_ref().is_some_and(Vec::is_empty) {
            return Err(RabbitmqError::BadOption(
                "`vhosts` is empty: leave it out to back up the whole broker".to_string(),
            ));
        }
        if self.max_messages_per_queue == 0 {
            return Err(RabbitmqError::BadOption(
                "`max_messages_per_queue` must be at least 1 (set `messages = false` to skip messages)"
                    .to_string(),
            ));
        }
        if self.max_messages_per_queue > MAX_MESSAGES_PER_QUEUE {
            return Err(RabbitmqError::BadOption(format!(
                "`max_messages_per_queue` is {}, the most is {MAX_MESSAGES_PER_QUEUE}: a queue's \
                 messages are held unacknowledged until they are put back in order, and AMQP's \
                 prefetch window (16 bits) is the only bound on how many the broker sends at once",
                self.max_messages_per_queue
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let mut o = RabbitmqOptions::new("http://guest:in-url-pw@127.0.0.1:15672");
        o.password = Some("option-pw".into());
        o.amqp_url = Some("amqp://u:amqp-pw@h:5672".into());
        let shown = format!("{o:?} {o:#?}");
        for secret in ["in-url-pw", "option-pw", "amqp-pw"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("http://guest:***@127.0.0.1:15672"),
            "{shown}"
        );
    }

    #[test]
    fn the_per_queue_limit_and_the_vhosts_are_checked() {
        let mut o = RabbitmqOptions::new("http://u:p@127.0.0.1:15672");
        assert_eq!(o.max_messages_per_queue, MAX_MESSAGES_PER_QUEUE);
        assert!(o.check().is_ok());
        for bad in [0, MAX_MESSAGES_PER_QUEUE + 1] {
            o.max_messages_per_queue = bad;
            let err = o.check().unwrap_err().to_string();
            assert!(err.contains("max_messages_per_queue"), "{err}");
        }
        o.max_messages_per_queue = 10;
        o.vhosts = Some(Vec::new());
        assert!(o
            .check()
            .unwrap_err()
            .to_string()
            .contains("`vhosts` is empty"));
    }
}
