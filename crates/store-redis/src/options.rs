//! [`RedisOptions`]: the `[[sources]]` keys of a `kind = "redis"` source; their doc comments
//! are the config reference (README.md, "Redis").

use std::path::{Path, PathBuf};
use std::time::Duration;

use backup_core::store::resolve_path;
use lifeboat_edge::deprecation::{renamed, BothNames};
use lifeboat_edge::{HumanDuration, Secret, SecretUrl};
use serde::{Deserialize, Serialize};

use crate::endpoint::{Endpoint, DEFAULT_CONNECT_TIMEOUT};
use crate::RedisError;

/// How a backup reads the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
/// connect_timeout = "10s"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisOptions {
    /// The server: `redis://[user[:password]@]host:port[/db]` (`rediss://` for TLS). The db
    /// index is where a restore goes when the backup holds a single db; backups cover every
    /// db (or `databases`). Required.
    pub url: SecretUrl,
    /// The ACL user name (overrides the URL's).
    #[serde(default)]
    pub username: Option<String>,
    /// The password (overrides the URL's); use `${VAR}` to take it from the environment.
    #[serde(default)]
    pub password: Option<Secret>,
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
    /// How long to wait for a connection, e.g. `"10s"` (the default).
    #[serde(default)]
    pub connect_timeout: Option<HumanDuration>,
    /// Deprecated: the old name of `connect_timeout`, in seconds. Read for this release with
    /// a warning; setting both is an error.
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
    /// `rediss://`: a PEM file with the CA certificate(s) to trust instead of the built-in
    /// Mozilla roots (webpki-roots), relative to the config file's folder. The server's
    /// certificate must also name the URL's host (DNS name or IP address). Also used for
    /// `restore --to rediss://...`.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// `rediss://`: accept any server certificate without verification (testing only; the
    /// connection is still encrypted, and every connection logs a warning).
    #[serde(default)]
    pub tls_insecure: bool,
}

impl RedisOptions {
    /// Options with `url` and every other key at its default.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: SecretUrl::new(url),
            username: None,
            password: None,
            mode: Mode::Rdb,
            fallback: None,
            databases: None,
            scan_count: default_scan_count(),
            pipeline: default_pipeline(),
            connect_timeout: None,
            connect_timeout_secs: None,
            tls_ca_file: None,
            tls_insecure: false,
        }
    }

    /// Finishes options read from the config (the store's `resolve`): reads the deprecated
    /// `connect_timeout_secs` into `connect_timeout` (with a warning), resolves `tls_ca_file`
    /// against `base` (the config file's folder) and checks every value that needs no I/O,
    /// so a bad option is a config error when the config loads.
    pub fn resolve(&mut self, base: &Path) -> Result<(), RedisError> {
        self.connect_timeout = renamed(
            "connect_timeout_secs",
            self.connect_timeout_secs.take(),
            "connect_timeout",
            self.connect_timeout,
            HumanDuration::from_secs,
        )?;
        self.tls_ca_file = self.tls_ca_file.as_deref().map(|p| resolve_path(base, p));
        self.validate()
    }

    /// Checks the option values that need no I/O (sources, targets and drills built from
    /// options that did not go through [`RedisOptions::resolve`] check them too).
    pub fn validate(&self) -> Result<(), RedisError> {
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
        if self.connect_timeout.is_some() && self.connect_timeout_secs.is_some() {
            return Err(BothNames {
                old: "connect_timeout_secs",
                new: "connect_timeout",
            }
            .into());
        }
        self.endpoint().map(|_| ())
    }

    /// How long to wait for a connection (at least a second).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
            .map(HumanDuration::as_std)
            .or(self.connect_timeout_secs.map(Duration::from_secs))
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
            .max(Duration::from_secs(1))
    }

    /// The server of these options, with the credential overrides applied.
    pub(crate) fn endpoint(&self) -> Result<Endpoint, RedisError> {
        let mut ep = Endpoint::parse(self.url.expose())?;
        if let Some(u) = &self.username {
            ep.username = Some(u.clone());
        }
        if let Some(p) = &self.password {
            ep.password = Some(p.clone());
        }
        self.apply_connection_settings(&mut ep);
        Ok(ep)
    }

    /// The TLS settings and the timeout of these options on `ep` (also a `--to` server).
    pub(crate) fn apply_connection_settings(&self, ep: &mut Endpoint) {
        ep.tls_ca_file = self.tls_ca_file.clone();
        ep.tls_insecure = self.tls_insecure;
        ep.connect_timeout = self.connect_timeout();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(toml: &str) -> Result<RedisOptions, String> {
        let mut o: RedisOptions = toml::from_str(toml).map_err(|e| e.to_string())?;
        o.resolve(Path::new("/etc/lifeboat"))
            .map_err(|e| e.to_string())?;
        Ok(o)
    }

    #[test]
    fn debug_shows_every_field_but_no_secret() {
        let mut o = RedisOptions::from_url("redis://:topsecret@h:1");
        o.password = Some(Secret::new("othersecret"));
        o.connect_timeout = Some(HumanDuration::from_secs(7));
        let text = format!("{o:?}");
        assert!(
            !text.contains("topsecret") && !text.contains("othersecret"),
            "{text}"
        );
        assert!(
            text.contains("connect_timeout") && text.contains("redis://"),
            "{text}"
        );
    }

    #[test]
    fn connect_timeout_and_its_old_name() {
        let url = "url = \"redis://h:1\"\n";
        assert_eq!(
            read(url).unwrap().connect_timeout(),
            Duration::from_secs(10)
        );
        let o = read(&format!("{url}connect_timeout = \"90s\"")).unwrap();
        assert_eq!(o.connect_timeout(), Duration::from_secs(90));
        // The old name is read (with a deprecation warning) into the new one.
        let o = read(&format!("{url}connect_timeout_secs = 3")).unwrap();
        assert_eq!(o.connect_timeout, Some(HumanDuration::from_secs(3)));
        assert_eq!(o.connect_timeout_secs, None);
        assert_eq!(o.connect_timeout(), Duration::from_secs(3));
        // Both: an error naming both.
        let err = read(&format!(
            "{url}connect_timeout_secs = 3\nconnect_timeout = \"3s\""
        ))
        .unwrap_err();
        assert!(
            err.contains("connect_timeout_secs") && err.contains("set only `connect_timeout`"),
            "{err}"
        );
        // A bare `m` is refused as ambiguous.
        assert!(read(&format!("{url}connect_timeout = \"1m\"")).is_err());
    }

    #[test]
    fn bad_options_are_errors_at_load() {
        let url = "url = \"redis://h:1\"\n";
        for (extra, message) in [
            ("fallback = \"rdb\"", "fallback can only be"),
            ("pipeline = 0", "at least 1"),
            ("scan_count = 0", "at least 1"),
        ] {
            let err = read(&format!("{url}{extra}")).unwrap_err();
            assert!(err.contains(message), "{extra}: {err}");
        }
        let err = read("url = \"redis://:pw-x@h:1/zz\"").unwrap_err();
        assert!(err.contains("db index") && !err.contains("pw-x"), "{err}");
        assert!(read("url = \"redis://h\"\nunknown_key = 1").is_err());
    }

    #[test]
    fn tls_ca_file_is_relative_to_the_config() {
        let o = read("url = \"rediss://h\"\ntls_ca_file = \"./ca.pem\"").unwrap();
        assert_eq!(
            o.tls_ca_file.as_deref(),
            Some(Path::new("/etc/lifeboat/ca.pem"))
        );
        let o = read("url = \"rediss://h\"\ntls_ca_file = \"/abs/ca.pem\"").unwrap();
        assert_eq!(o.tls_ca_file.as_deref(), Some(Path::new("/abs/ca.pem")));
    }
}
