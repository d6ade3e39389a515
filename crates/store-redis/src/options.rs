//! [`RedisOptions`] (the `[[sources]]` keys of a `kind = "redis"` source) and [`Endpoint`], a
//! parsed server address with its credentials.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::RedisError;

/// How a backup reads the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A point-in-time RDB snapshot streamed over the replication protocol (`SYNC`).
    #[default]
    Rdb,
    /// `SCAN` + `DUMP` + `PTTL` of every key: works where `SYNC` is not allowed, but is not a
    /// point-in-time snapshot.
    Logical,
}

impl Mode {
    /// `"rdb"` or `"logical"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Rdb => "rdb",
            Mode::Logical => "logical",
        }
    }
}

fn default_scan_count() -> u32 {
    1000
}
fn default_pipeline() -> usize {
    512
}
fn default_connect_timeout() -> u64 {
    10
}

/// The options of a `kind = "redis"` source (the keys of its `[[sources]]` table).
///
/// ```toml
/// [[sources]]
/// name = "cache"
/// kind = "redis"
/// url = "redis://backup@10.0.0.5:6379"
/// password = "${REDIS_PASSWORD}"
/// mode = "rdb"
/// fallback = "logical"
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisOptions {
    /// The server: `redis://[user[:password]@]host:port[/db]` (`rediss://` for TLS). The db
    /// index is where a restore goes when the backup holds a single db; backups cover every
    /// db (or `databases`). Required.
    pub url: String,
    /// The ACL user name (overrides the URL's).
    #[serde(default)]
    pub username: Option<String>,
    /// The password (overrides the URL's); use `${VAR}` to take it from the environment.
    #[serde(default)]
    pub password: Option<String>,
    /// `"rdb"` (default): a point-in-time RDB snapshot streamed from the server over the
    /// replication protocol, dump format `rdb`. `"logical"`: `SCAN` + `DUMP` + `PTTL` of every
    /// key, dump format `redis-logical`; for servers that refuse `SYNC`; not point-in-time.
    #[serde(default)]
    pub mode: Mode,
    /// `"logical"`: when the server refuses `SYNC` in `rdb` mode, take a logical backup
    /// instead (the manifest metadata says so). Unset: such a backup fails.
    #[serde(default)]
    pub fallback: Option<Mode>,
    /// Logical mode: the db indexes to back up (default: every non-empty db of
    /// `INFO keyspace`).
    #[serde(default)]
    pub databases: Option<Vec<u32>>,
    /// Logical mode: the `COUNT` hint of each `SCAN` (default 1000).
    #[serde(default = "default_scan_count")]
    pub scan_count: u32,
    /// Keys per pipelined batch of `RESTORE` commands (restore; default 512). (A logical
    /// backup pipelines one `SCAN` page of `DUMP`/`PTTL` per batch: see `scan_count`.)
    #[serde(default = "default_pipeline")]
    pub pipeline: usize,
    /// Seconds to wait for a connection (default 10).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// `rediss://`: a PEM file with the CA certificate(s) to trust instead of the built-in
    /// Mozilla roots (webpki-roots). The server's certificate must also name the URL's host
    /// (DNS name or IP address). Also used for `restore --to rediss://...`.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// `rediss://`: accept any server certificate without verification (testing only; the
    /// connection is still encrypted, and every connection logs a warning).
    #[serde(default)]
    pub tls_insecure: bool,
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("mode", &self.mode)
            .field("fallback", &self.fallback)
            .field("databases", &self.databases)
            .field("scan_count", &self.scan_count)
            .field("pipeline", &self.pipeline)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_insecure", &self.tls_insecure)
            .finish()
    }
}

impl RedisOptions {
    /// Options with `url` and every other key at its default.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            username: None,
            password: None,
            mode: Mode::Rdb,
            fallback: None,
            databases: None,
            scan_count: default_scan_count(),
            pipeline: default_pipeline(),
            connect_timeout_secs: default_connect_timeout(),
            tls_ca_file: None,
            tls_insecure: false,
        }
    }

    /// Checks the option values that need no I/O.
    pub(crate) fn validate(&self) -> Result<(), RedisError> {
        if self.fallback == Some(Mode::Rdb) {
            return Err(RedisError::Config(
                "fallback can only be \"logical\"".to_string(),
            ));
        }
        if self.pipeline == 0 || self.scan_count == 0 {
            return Err(RedisError::Config(
                "pipeline and scan_count must be at least 1".to_string(),
            ));
        }
        self.endpoint().map(|_| ())
    }

    /// The server of these options, with the credential overrides applied.
    pub(crate) fn endpoint(&self) -> Result<Endpoint, RedisError> {
        let mut ep = Endpoint::parse(&self.url)?;
        if let Some(u) = &self.username {
            ep.username = Some(u.clone());
        }
        if let Some(p) = &self.password {
            ep.password = Some(p.clone());
        }
        ep.tls_ca_file = self.tls_ca_file.clone();
        ep.tls_insecure = self.tls_insecure;
        ep.connect_timeout = std::time::Duration::from_secs(self.connect_timeout_secs.max(1));
        Ok(ep)
    }
}

/// A parsed server address.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub db: u32,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: bool,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_insecure: bool,
    pub connect_timeout: std::time::Duration,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Endpoint {
    /// Parses `redis[s]://[user[:password]@]host[:port][/db]`.
    pub fn parse(url: &str) -> Result<Self, RedisError> {
        let bad = |why: &str| RedisError::Config(format!("url {}: {why}", redact_url(url)));
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let tls = match parsed.scheme() {
            "redis" => false,
            "rediss" => true,
            other => {
                return Err(bad(&format!(
                    "scheme `{other}` is not redis:// or rediss://"
                )))
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        // Nothing reads query parameters; one may hold a secret (`?password=`), which would
        // then be silently ignored.
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad(
                "query parameters are not supported; use the options (username, password, \
                 tls_ca_file, ...)",
            ));
        }
        let port = parsed.port().unwrap_or(6379);
        let path = parsed.path().trim_matches('/');
        let db = if path.is_empty() {
            0
        } else {
            path.parse::<u32>()
                .map_err(|_| bad("the path must be a db index, e.g. /0"))?
        };
        let decode = |s: &str| -> Result<String, RedisError> {
            url_decode(s).ok_or_else(|| bad("bad percent-encoding in the credentials"))
        };
        let username = match parsed.username() {
            "" => None,
            u => Some(decode(u)?),
        };
        let password = parsed.password().map(decode).transpose()?;
        Ok(Self {
            host,
            port,
            db,
            username,
            password,
            tls,
            tls_ca_file: None,
            tls_insecure: false,
            connect_timeout: std::time::Duration::from_secs(10),
        })
    }

    /// `text` with every occurrence of the password replaced by `***`: error texts (from the
    /// server or the client library) may echo the arguments of `AUTH`.
    pub fn scrub(&self, text: &str) -> String {
        match self.password.as_deref() {
            Some(pw) if !pw.is_empty() => text.replace(pw, "***"),
            _ => text.to_string(),
        }
    }

    /// The URL without credentials, for messages: `redis://host:port/db`.
    pub fn redacted(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let user = self
            .username
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{user}{host}:{}/{}", self.port, self.db)
    }
}

/// Removes the password and any query or fragment (which may hold one) of a URL, for
/// messages (keeps scheme, user, host, port, path).
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query().is_some() {
                u.set_query(Some("***"));
            }
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<unparsable url>".to_string(),
    }
}

fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        let ep = Endpoint::parse("redis://bob:s%40cret@example.com:6380/3").unwrap();
        assert_eq!(ep.host, "example.com");
        assert_eq!(ep.port, 6380);
        assert_eq!(ep.db, 3);
        assert_eq!(ep.username.as_deref(), Some("bob"));
        assert_eq!(ep.password.as_deref(), Some("s@cret"));
        assert!(!ep.redacted().contains("cret"));
        assert!(!redact_url("redis://:pw@h:1").contains("pw"));
        let ep = Endpoint::parse("rediss://h").unwrap();
        assert!(ep.tls);
        assert_eq!((ep.port, ep.db), (6379, 0));
        assert!(Endpoint::parse("http://h").is_err());
        assert!(Endpoint::parse("redis://h/x").is_err());
        // A query is refused, and its content never shows in the message.
        let err = Endpoint::parse("redis://h:1/0?password=qsecret")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("query") && !err.contains("qsecret"), "{err}");
        let ep = Endpoint::parse("redis://:pw-1@h").unwrap();
        assert_eq!(
            ep.scrub("ERR unknown command 'AUTH', with args beginning with: 'pw-1'"),
            "ERR unknown command 'AUTH', with args beginning with: '***'"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let mut o = RedisOptions::from_url("redis://:topsecret@h:1");
        o.password = Some("othersecret".into());
        let text = format!("{o:?}");
        assert!(
            !text.contains("topsecret") && !text.contains("othersecret"),
            "{text}"
        );
    }
}
