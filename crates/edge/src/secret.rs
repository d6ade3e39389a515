//! [`Secret`]: a password, key, token or credential-bearing URL from the config.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// A secret config value. Its `Debug` output is `"***"`, it has no `Display` and no
/// `Serialize` (so it can reach neither a log line nor a manifest by accident), and its memory
/// is zeroed when dropped (`secrecy`). Reading it takes an explicit [`Secret::expose`].
///
/// ```
/// use lifeboat_edge::Secret;
///
/// let password = Secret::new("hunter2");
/// assert_eq!(format!("{password:?}"), "\"***\"");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret value, to hand to a server or a backend. Never log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the value is the empty string (an unset `${VAR}` expanded to nothing, say).
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// A URL from the config that may carry credentials (`postgres://user:pw@host/db`): a
/// [`Secret`] whose `Debug` shows the URL with its secrets removed ([`crate::redact_url`])
/// rather than nothing, so options can derive `Debug` and still show where they point.
///
/// ```
/// use lifeboat_edge::SecretUrl;
///
/// let url = SecretUrl::new("redis://:hunter2@cache:6379/0");
/// assert_eq!(format!("{url:?}"), "\"redis://:***@cache:6379/0\"");
/// assert_eq!(url.expose(), "redis://:hunter2@cache:6379/0");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Secret);

impl SecretUrl {
    /// Wraps a URL (parsed only when shown: the store that uses it reports a bad one).
    pub fn new(url: impl Into<String>) -> Self {
        Self(Secret::new(url))
    }

    /// The URL as given, credentials included. Never log it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The URL as it may be shown ([`crate::redact_url_text`]).
    pub fn redacted(&self) -> String {
        crate::redact_url_text(self.expose())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl From<String> for SecretUrl {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretUrl {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Secret::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value_and_serde_reads_a_string() {
        #[derive(Debug, Deserialize)]
        struct Options {
            password: Secret,
        }
        let options: Options = toml::from_str("password = \"topsecret\"").unwrap();
        assert_eq!(options.password.expose(), "topsecret");
        let shown = format!("{options:?} {options:#?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert_eq!(Secret::from("a"), Secret::new(String::from("a")));
        assert!(Secret::new("").is_empty());
    }

    #[test]
    fn a_secret_url_shows_only_its_redacted_form() {
        let url: SecretUrl = toml::from_str::<toml::Table>("u = \"http://a:pw-9@h:1/\"")
            .map(|t| SecretUrl::new(t["u"].as_str().unwrap()))
            .unwrap();
        assert_eq!(format!("{url:?}"), "\"http://a:***@h:1\"");
        assert_eq!(
            SecretUrl::new("not a url pw").redacted(),
            "<unparsable URL>"
        );
    }
}
