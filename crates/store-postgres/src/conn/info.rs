//! [`ConnInfo`]: a server, user, password and database parsed from a postgres URL, shown only
//! as its redacted description, and handed to the client tools through `PG*` variables.

use std::path::Path;
use std::time::Duration;

use lifeboat_edge::{redact_url_text, Scrubbed, Secret};
use tokio_postgres::config::Host;

use super::params::split_ssl_params;
use super::tls::{RootCerts, SslMode, Tls};
use crate::error::{PostgresError, ServerError, UrlError};

/// The server, user, password and database of a connection. Never printed with its password
/// (a [`Secret`]): [`ConnInfo::describe`] is `postgres://user@host:port/database`.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub(super) host: String,
    pub(super) unix_socket: bool,
    pub(super) port: u16,
    pub(super) user: String,
    pub(super) password: Option<Secret>,
    database: String,
    pub(super) tls: Tls,
    pub(super) connect_timeout: Duration,
    /// How long a client tool's output may stall ([`ConnInfo::io_timeout`]).
    io_timeout: Duration,
}

/// The `io_timeout` of a connection built without options (tests, library callers).
const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl ConnInfo {
    /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=..&sslrootcert=..]`;
    /// `password` (when given) wins over the URL's; the URL's `sslrootcert` wins over
    /// `ca_file`. Without them, `PGSSLMODE` / `PGSSLROOTCERT` of the environment apply,
    /// else `prefer` (libpq's defaults).
    pub(crate) fn parse(
        url: &str,
        password: Option<&Secret>,
        ca_file: Option<&Path>,
        connect_timeout: Duration,
    ) -> Result<Self, PostgresError> {
        let bad = |problem| PostgresError::BadUrl {
            url: redact_url_text(url),
            problem,
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad(UrlError::Scheme));
        }
        let params = split_ssl_params(url).map_err(bad)?;
        let config: tokio_postgres::Config = params.rest.parse().map_err(|e| {
            let secrets = url_secrets(url);
            bad(UrlError::Parse(Scrubbed::new(
                ServerError(e),
                secrets.iter().map(String::as_str),
            )))
        })?;
        let (host, unix_socket) = match config.get_hosts() {
            [] => ("localhost".to_string(), false),
            [Host::Tcp(host)] => (host.clone(), false),
            [Host::Unix(path)] => (path.display().to_string(), true),
            _ => return Err(bad(UrlError::Hosts)),
        };
        let port = match config.get_ports() {
            [] => 5432,
            [port] => *port,
            _ => return Err(bad(UrlError::Ports)),
        };
        let user = match config.get_user() {
            Some(user) => user.to_string(),
            None => std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .map_err(|_| bad(UrlError::NoUser))?,
        };
        let url_password = config
            .get_password()
            .map(|p| Secret::new(String::from_utf8_lossy(p)));
        let password = password.cloned().or(url_password);
        let database = config
            .get_dbname()
            .map(str::to_string)
            .unwrap_or_else(|| user.clone());
        let mode = match params.mode.or_else(|| std::env::var("PGSSLMODE").ok()) {
            None => SslMode::Prefer,
            Some(text) => SslMode::parse(&text).ok_or_else(|| bad(UrlError::SslMode(text)))?,
        };
        let root_cert = params
            .root_cert
            .map(|text| RootCerts::parse(&text))
            .or_else(|| ca_file.map(|p| RootCerts::File(p.to_path_buf())))
            .or_else(|| {
                std::env::var("PGSSLROOTCERT")
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| RootCerts::parse(&v))
            });
        Ok(Self {
            host,
            unix_socket,
            port,
            user,
            password,
            database,
            tls: Tls { mode, root_cert },
            connect_timeout,
            io_timeout: DEFAULT_IO_TIMEOUT,
        })
    }

    /// The same connection, whose client tools may go `io_timeout` without output.
    pub(crate) fn with_io_timeout(self, io_timeout: Duration) -> Self {
        Self { io_timeout, ..self }
    }

    /// How long a client tool streaming a dump may go without a byte before it is killed.
    pub(crate) fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// The same server and user, another database.
    pub(crate) fn with_database(&self, database: &str) -> Self {
        Self {
            database: database.to_string(),
            ..self.clone()
        }
    }

    /// The configured `sslmode`.
    pub(crate) fn ssl_mode(&self) -> &'static str {
        self.tls.mode.as_str()
    }

    /// This connection, with `other`'s password when it has none of its own.
    pub(crate) fn with_password_of(self, other: &ConnInfo) -> Self {
        Self {
            password: self.password.or_else(|| other.password.clone()),
            ..self
        }
    }

    /// The database name.
    pub(crate) fn database(&self) -> &str {
        &self.database
    }

    /// Whether a password is configured (from the URL or the `password` option).
    pub(crate) fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The secrets to scrub out of texts a server, a library or a tool produced.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &str> {
        self.password.iter().map(Secret::expose)
    }

    /// The connection's description: `postgres://user@host:port/database` (a unix socket's
    /// folder in brackets), never a password. It is what errors, logs and the manifest show.
    pub(crate) fn describe(&self) -> String {
        if self.unix_socket {
            format!(
                "postgres://{}@[{}]:{}/{}",
                self.user, self.host, self.port, self.database
            )
        } else {
            format!(
                "postgres://{}@{}:{}/{}",
                self.user, self.host, self.port, self.database
            )
        }
    }

    /// The environment that points libpq's tools (pg_dump, pg_restore, psql) at this database.
    /// The password travels only here (`PGPASSWORD`), never on a command line.
    pub(crate) fn child_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PGHOST", self.host.clone()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", self.user.clone()),
            ("PGDATABASE", self.database.clone()),
            ("PGAPPNAME", "lifeboat".to_string()),
            (
                "PGCONNECT_TIMEOUT",
                self.connect_timeout.as_secs().max(1).to_string(),
            ),
        ];
        env.extend(self.tls.child_env());
        if let Some(password) = &self.password {
            env.push(("PGPASSWORD", password.expose().to_string()));
        }
        env
    }
}

/// The passwords written in a URL (user info, `password=` parameter), to scrub out of the
/// error of a URL that does not parse.
fn url_secrets(url: &str) -> Vec<String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Vec::new();
    };
    let mut secrets: Vec<String> = parsed
        .query_pairs()
        .filter(|(key, _)| key == "password")
        .map(|(_, value)| value.into_owned())
        .collect();
    if let Some(password) = parsed.password() {
        secrets.push(password.to_string());
        secrets.extend(lifeboat_edge::percent::decode(password).ok());
    }
    secrets
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(3);

    fn parse(url: &str) -> Result<ConnInfo, PostgresError> {
        ConnInfo::parse(url, None, None, T)
    }

    #[test]
    fn a_password_in_the_query_is_used_but_never_shown() {
        let info = parse("postgres://bob@h:5432/db?password=hunter2").unwrap();
        assert!(info
            .child_env()
            .contains(&("PGPASSWORD", "hunter2".to_string())));
        assert!(!info.describe().contains("hunter2"));
        let err = parse("postgres://bob@h/db?password=hunter2&port=x")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        // The URL as shown: no password, no `password=` value.
        assert!(err.contains("password=***"), "{err}");
        let options = crate::PostgresOptions::from_url("postgres://bob@h/db?password=hunter2");
        assert!(!format!("{options:?}").contains("hunter2"));
    }

    #[test]
    fn parses_and_describes_without_password() {
        let info = parse("postgres://bob:hunter2@db.local:6543/orders").unwrap();
        assert_eq!(info.describe(), "postgres://bob@db.local:6543/orders");
        assert!(!format!("{info:?}").contains("hunter2"));
        let env = info.child_env();
        assert!(env.contains(&("PGPASSWORD", "hunter2".to_string())));
        assert_eq!(info.secrets().collect::<Vec<_>>(), ["hunter2"]);
        let other =
            ConnInfo::parse("postgres://bob:x@h/o", Some(&Secret::new("y")), None, T).unwrap();
        assert!(other.child_env().contains(&("PGPASSWORD", "y".to_string())));
        let err = parse("mysql://bob:hunter2@h/db").unwrap_err();
        assert!(matches!(
            err,
            PostgresError::BadUrl {
                problem: UrlError::Scheme,
                ..
            }
        ));
        let err = err.to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("mysql://bob:***@h/db"), "{err}");
    }

    #[test]
    fn ssl_params_are_taken_out_of_the_url() {
        let info = ConnInfo::parse(
            "postgres://u@h/db?sslmode=verify-ca&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
            None,
            Some(Path::new("/other.pem")),
            T,
        )
        .unwrap();
        let env = info.child_env();
        assert!(env.contains(&("PGSSLMODE", "verify-ca".into())));
        assert!(env.contains(&("PGSSLROOTCERT", "/etc/ca.pem".into())));
        let info = ConnInfo::parse(
            "postgres://u@h/db?sslmode=require",
            None,
            Some(Path::new("/ca.pem")),
            T,
        )
        .unwrap();
        assert!(info
            .child_env()
            .contains(&("PGSSLROOTCERT", "/ca.pem".into())));
        let err = parse("postgres://u:pw@h/db?sslmode=verify")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown sslmode `verify`"), "{err}");
        assert!(!err.contains("pw@"), "{err}");
        let err = parse("postgres://u@h1,h2/db").unwrap_err();
        assert!(matches!(
            err,
            PostgresError::BadUrl {
                problem: UrlError::Hosts,
                ..
            }
        ));
    }
}
