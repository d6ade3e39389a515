//! [`Endpoint`]: a parsed server address with its credentials and connection settings.

use std::path::PathBuf;
use std::time::Duration;

use lifeboat_edge::{percent, redact_url_text, Secret};

use crate::error::UrlProblem;
use crate::RedisError;

/// The default of `connect_timeout`.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a reply may take before the connection is given up (a frozen server, or one
/// behind a stalled proxy, keeps the TCP connection up and never answers).
pub(crate) const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// A parsed server address. Its `Debug` shows the password as `***` (a [`Secret`]).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub db: u32,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: bool,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_insecure: bool,
    pub connect_timeout: Duration,
    pub reply_timeout: Duration,
}

impl Endpoint {
    /// Parses `redis[s]://[user[:password]@]host[:port][/db]`.
    pub fn parse(url: &str) -> Result<Self, RedisError> {
        let bad = |problem| RedisError::Url {
            url: redact_url_text(url),
            problem,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(UrlProblem::Parse(e)))?;
        let tls = match parsed.scheme() {
            "redis" => false,
            "rediss" => true,
            other => return Err(bad(UrlProblem::Scheme(other.to_string()))),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad(UrlProblem::NoHost))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        // Nothing reads query parameters; one may hold a secret (`?password=`), which would
        // then be silently ignored.
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad(UrlProblem::Query));
        }
        let port = parsed.port().unwrap_or(6379);
        let path = parsed.path().trim_matches('/');
        let db = if path.is_empty() {
            0
        } else {
            path.parse::<u32>().map_err(|_| bad(UrlProblem::Db))?
        };
        let decode = |s: &str| percent::decode(s).map_err(|e| bad(UrlProblem::Credentials(e)));
        let username = match parsed.username() {
            "" => None,
            u => Some(decode(u)?),
        };
        let password = parsed.password().map(decode).transpose()?.map(Secret::new);
        Ok(Self {
            host,
            port,
            db,
            username,
            password,
            tls,
            tls_ca_file: None,
            tls_insecure: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
        })
    }

    /// The secrets a server's or a library's error text may echo (`AUTH`'s arguments), for
    /// [`lifeboat_edge::Scrubbed`].
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.password.iter().map(Secret::expose)
    }

    /// The address for messages, `redis://[user@]host:port/db`: built from the parsed parts,
    /// so it never holds the password.
    pub fn redacted(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let user = self
            .username
            .as_deref()
            .map(|u| format!("{}@", percent::encode_component(u)))
            .unwrap_or_default();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{user}{host}:{}/{}", self.port, self.db)
    }
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
        assert_eq!(ep.password.as_ref().map(Secret::expose), Some("s@cret"));
        assert_eq!(ep.redacted(), "redis://bob@example.com:6380/3");
        assert!(!format!("{ep:?}").contains("cret"));
        let ep = Endpoint::parse("rediss://h").unwrap();
        assert!(ep.tls);
        assert_eq!((ep.port, ep.db), (6379, 0));
        assert!(Endpoint::parse("http://h").is_err());
        assert!(Endpoint::parse("redis://h/x").is_err());
        assert!(Endpoint::parse("redis://u:%FF@h").is_err());
        // A query is refused, and its content never shows in the message.
        let err = Endpoint::parse("redis://h:1/0?password=qsecret")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("query") && !err.contains("qsecret"), "{err}");
        let err = Endpoint::parse("redis://:pw-1@h:1/x")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("db index") && !err.contains("pw-1"), "{err}");
        // A server's answer that echoes AUTH's arguments is shown scrubbed, and stays typed.
        let ep = Endpoint::parse("redis://:pw-1@h").unwrap();
        let answer =
            crate::ServerError::new("ERR unknown command 'AUTH', with args beginning with: 'pw-1'");
        let shown = lifeboat_edge::Scrubbed::new(answer, ep.secrets());
        assert_eq!(
            shown.to_string(),
            "ERR unknown command 'AUTH', with args beginning with: '***'"
        );
        assert_eq!(
            shown.find::<crate::ServerError>().map(|e| e.code()),
            Some(crate::ErrorCode::Err)
        );
    }
}
