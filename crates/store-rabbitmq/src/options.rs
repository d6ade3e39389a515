//! [`RabbitmqOptions`] (the config keys of a `kind = "rabbitmq"` source) and the endpoints
//! derived from them, with redacted descriptions for logs and errors.

use std::fmt;

use serde::Deserialize;
use url::Url;

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
/// url = "http://backup:${RABBITMQ_PASSWORD}@127.0.0.1:15672"
/// vhosts = ["orders", "billing"]   # default: the whole broker
/// messages = true                   # default: definitions only
/// max_messages_per_queue = 65535    # the most (and the default)
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RabbitmqOptions {
    /// The management API (the `rabbitmq_management` plugin), e.g.
    /// `http://user:password@127.0.0.1:15672`. Required. The user needs the `administrator`
    /// tag to export and import definitions. Credentials may also be given with `username`
    /// and `password`.
    pub url: String,
    /// The management (and AMQP) user, when not in `url`; overrides the user in `url`.
    #[serde(default)]
    pub username: Option<String>,
    /// The user's password, when not in `url` (e.g. `"${RABBITMQ_PASSWORD}"`); overrides the
    /// password in `url`. Never logged or written to a manifest.
    #[serde(default)]
    pub password: Option<String>,
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
    pub amqp_url: Option<String>,
}

fn default_max_messages() -> u64 {
    DEFAULT_MAX_MESSAGES_PER_QUEUE
}

impl RabbitmqOptions {
    /// Options for the management API at `url`, with every other key at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            username: None,
            password: None,
            vhosts: None,
            messages: false,
            max_messages_per_queue: DEFAULT_MAX_MESSAGES_PER_QUEUE,
            amqp_url: None,
        }
    }
}

impl fmt::Debug for RabbitmqOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitmqOptions")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("vhosts", &self.vhosts)
            .field("messages", &self.messages)
            .field("max_messages_per_queue", &self.max_messages_per_queue)
            .field("amqp_url", &self.amqp_url.as_deref().map(redact_url))
            .finish()
    }
}

/// `url` with any password replaced by `***` (or the whole string hidden when it does not
/// parse, since it may then hold anything).
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "<unparsable URL>".to_string(),
    }
}

/// Where the management API is and who to log in as.
#[derive(Clone)]
pub(crate) struct ApiEndpoint {
    /// The base URL, without credentials and without a trailing slash.
    pub base: Url,
    pub username: String,
    pub password: String,
}

impl ApiEndpoint {
    /// `http://user@host:port` (no password): for messages and `describe()`.
    pub fn display(&self) -> String {
        let mut url = self.base.clone();
        let _ = url.set_username(&self.username);
        url.to_string().trim_end_matches('/').to_string()
    }
}

impl fmt::Debug for ApiEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// Where AMQP is and who to log in as.
#[derive(Clone)]
pub(crate) struct AmqpEndpoint {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
}

impl AmqpEndpoint {
    /// `amqp://user@host:port` (no password).
    pub fn display(&self) -> String {
        format!("amqp://{}@{}:{}", self.username, self.host, self.port)
    }
}

impl fmt::Debug for AmqpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// Both endpoints of a broker.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    pub api: ApiEndpoint,
    pub amqp: AmqpEndpoint,
}

impl Endpoints {
    /// Resolves the endpoints of `options`, or of `to` (a management URL) with the options'
    /// credentials as the default. No I/O.
    pub fn resolve(options: &RabbitmqOptions, to: Option<&str>) -> Result<Self, RabbitmqError> {
        let (url_text, what) = match to {
            Some(to) => (to, "restore --to URL"),
            None => (options.url.as_str(), "url"),
        };
        let bad = |reason: String| RabbitmqError::BadUrl {
            what,
            url: redact_url(url_text),
            reason,
        };
        let mut url = Url::parse(url_text).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!(
                "the management API URL must be http:// or https://, not {}://",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| bad("the URL has no host".to_string()))?
            .to_string();
        let url_user = Some(percent_decode(url.username())).filter(|u| !u.is_empty());
        let url_password = url.password().map(percent_decode);
        // Which credentials win, as documented on the options: for the source's own URL,
        // `username`/`password` override the URL's; a `--to` URL's own credentials win, and
        // without them the source's are used (its options first, then its URL's).
        let (source_user, source_password) = match Url::parse(&options.url) {
            Ok(u) if to.is_some() => (
                Some(percent_decode(u.username())).filter(|u| !u.is_empty()),
                u.password().map(percent_decode),
            ),
            _ => (None, None),
        };
        let (username, password) = if to.is_some() {
            (
                url_user
                    .or_else(|| options.username.clone())
                    .or(source_user),
                url_password
                    .or_else(|| options.password.clone())
                    .or(source_password),
            )
        } else {
            (
                options.username.clone().or(url_user),
                options.password.clone().or(url_password),
            )
        };
        let username =
            username.ok_or_else(|| {
                bad("no user: put it in the URL (http://user:password@host:15672) or set `username`"
                .to_string())
            })?;
        let password = password.ok_or_else(|| {
            bad(format!(
                "no password for user `{username}`: put it in the URL or set `password` (e.g. \"${{RABBITMQ_PASSWORD}}\")"
            ))
        })?;
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&path);
        let api = ApiEndpoint {
            base: url,
            username: username.clone(),
            password: password.clone(),
        };

        let amqp = match (&options.amqp_url, to) {
            (Some(amqp_url), None) => parse_amqp(amqp_url, &username, &password)?,
            _ => AmqpEndpoint {
                host,
                port: DEFAULT_AMQP_PORT,
                username,
                password,
            },
        };
        Ok(Self { api, amqp })
    }
}

fn parse_amqp(text: &str, user: &str, password: &str) -> Result<AmqpEndpoint, RabbitmqError> {
    let bad = |reason: String| RabbitmqError::BadUrl {
        what: "amqp_url",
        url: redact_url(text),
        reason,
    };
    let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "amqp" => {}
        "amqps" => {
            return Err(bad(
                "amqps:// is not supported by this build: use amqp:// on a trusted network"
                    .to_string(),
            ))
        }
        other => return Err(bad(format!("expected amqp://, not {other}://"))),
    }
    let host = url
        .host_str()
        .ok_or_else(|| bad("the URL has no host".to_string()))?
        .to_string();
    let username = match url.username() {
        "" => user.to_string(),
        u => percent_decode(u),
    };
    let password = url
        .password()
        .map(percent_decode)
        .unwrap_or_else(|| password.to_string());
    Ok(AmqpEndpoint {
        host,
        port: url.port().unwrap_or(DEFAULT_AMQP_PORT),
        username,
        password,
    })
}

/// Decodes `%XX` escapes of a URL's user or password.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes one path segment of a management API URL (a vhost or object name).
pub(crate) fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn credentials_come_from_the_url_or_the_options() {
        let e = Endpoints::resolve(
            &RabbitmqOptions::new("http://guest:p%40ss@127.0.0.1:15672/"),
            None,
        )
        .unwrap();
        assert_eq!(e.api.username, "guest");
        assert_eq!(e.api.password, "p@ss");
        assert_eq!(e.api.base.as_str(), "http://127.0.0.1:15672/");
        assert_eq!(e.amqp.display(), "amqp://guest@127.0.0.1:5672");
        assert_eq!(e.amqp.password, "p@ss");

        let mut o = RabbitmqOptions::new("http://127.0.0.1:15672");
        o.username = Some("backup".into());
        o.password = Some("secret".into());
        o.amqp_url = Some("amqp://10.0.0.1:5673".into());
        let e = Endpoints::resolve(&o, None).unwrap();
        assert_eq!(e.api.username, "backup");
        assert_eq!(e.amqp.port, 5673);
        assert_eq!(e.amqp.password, "secret");
        assert!(!format!("{o:?}").contains("secret"));
        assert!(!format!("{e:?}").contains("secret"));
    }

    #[test]
    fn the_options_override_the_url_credentials() {
        let mut o = RabbitmqOptions::new("http://guest:in-url@127.0.0.1:15672");
        o.password = Some("from-option".into());
        let e = Endpoints::resolve(&o, None).unwrap();
        assert_eq!(e.api.username, "guest");
        assert_eq!(e.api.password, "from-option");
        assert_eq!(e.amqp.password, "from-option");
        o.username = Some("backup".into());
        let e = Endpoints::resolve(&o, None).unwrap();
        assert_eq!(e.api.username, "backup");
        assert_eq!(e.amqp.username, "backup");

        // A --to URL with its own credentials uses them; without, the source's options.
        let e = Endpoints::resolve(&o, Some("http://ops:ops-pw@other:15672")).unwrap();
        assert_eq!(
            (e.api.username.as_str(), e.api.password.as_str()),
            ("ops", "ops-pw")
        );
        let e = Endpoints::resolve(&o, Some("http://other:15672")).unwrap();
        assert_eq!(
            (e.api.username.as_str(), e.api.password.as_str()),
            ("backup", "from-option")
        );
    }

    #[test]
    fn restore_to_borrows_the_source_credentials() {
        let o = RabbitmqOptions::new("http://guest:guest@127.0.0.1:15672");
        let e = Endpoints::resolve(&o, Some("http://other:15672")).unwrap();
        assert_eq!(e.api.display(), "http://guest@other:15672");
        assert_eq!(e.amqp.host, "other");
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        let err = Endpoints::resolve(&RabbitmqOptions::new("amqp://u:topsecret@h"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("http://"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
        let err = Endpoints::resolve(&RabbitmqOptions::new("http://h:15672"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no user"), "{err}");
        let mut o = RabbitmqOptions::new("http://u:p@h:15672");
        o.amqp_url = Some("amqps://h".into());
        assert!(Endpoints::resolve(&o, None).is_err());
    }

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(redact_url("http://a:b@h:1/"), "http://a:***@h:1");
        assert_eq!(redact_url("not a url with secret"), "<unparsable URL>");
        assert_eq!(encode_segment("/"), "%2F");
        assert_eq!(encode_segment("a b"), "a%20b");
    }
}
