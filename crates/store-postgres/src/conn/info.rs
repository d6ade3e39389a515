//! Where a server is and how to reach it: the parsed URL ([`ConnInfo`]), its redacted form, the
//! in-process connection (tokio-postgres) and the environment handed to the client tools.

use std::path::Path;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::{Client, NoTls};

use crate::error::{pg_message, PostgresError, Step};
use crate::tls::{self, RootCerts, SslMode, Tls};

/// The server, user, password and database of a connection. Never printed with its password:
/// [`ConnInfo::describe`] is the redacted URL.
#[derive(Clone)]
pub(crate) struct ConnInfo {
    host: String,
    unix_socket: bool,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
    tls: Tls,
    connect_timeout: Duration,
}

impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl ConnInfo {
    /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=..&sslrootcert=..]`;
    /// `password` (when given) wins over the URL's; the URL's `sslrootcert` wins over
    /// `ssl_root_cert`. Without them, `PGSSLMODE` / `PGSSLROOTCERT` of the environment apply,
    /// else `prefer` (libpq's defaults).
    pub(crate) fn parse(
        url: &str,
        password: Option<&str>,
        ssl_root_cert: Option<&Path>,
        connect_timeout: Duration,
    ) -> Result<Self, PostgresError> {
        let bad = |reason: String| PostgresError::BadUrl {
            url: redact_url(url),
            reason,
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad(
                "expected postgres://user[:password]@host[:port]/database".to_string(),
            ));
        }
        // tokio-postgres knows neither verify-* nor sslrootcert: lifeboat handles both.
        let (rest, ssl_mode, root_cert) = split_ssl_params(url).map_err(bad)?;
        let config: tokio_postgres::Config = rest.parse().map_err(|e| bad(pg_message(&e)))?;
        let (host, unix_socket) = match config.get_hosts() {
            [] => ("localhost".to_string(), false),
            [Host::Tcp(host)] => (host.clone(), false),
            [Host::Unix(path)] => (path.display().to_string(), true),
            _ => return Err(bad("only one host is supported".to_string())),
        };
        let port = match config.get_ports() {
            [] => 5432,
            [port] => *port,
            _ => return Err(bad("only one port is supported".to_string())),
        };
        let user = match config.get_user() {
            Some(user) => user.to_string(),
            None => std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .map_err(|_| bad("no user in the URL (and neither PGUSER nor USER set)".into()))?,
        };
        let url_password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let password = password.map(str::to_string).or(url_password);
        let database = config
            .get_dbname()
            .map(str::to_string)
            .unwrap_or_else(|| user.clone());
        let ssl_mode = match ssl_mode.or_else(|| std::env::var("PGSSLMODE").ok()) {
            None => SslMode::Prefer,
            Some(text) => SslMode::parse(&text).ok_or_else(|| {
                bad(format!(
                    "unknown sslmode `{text}` (expected disable, allow, prefer, require, \
                     verify-ca or verify-full)"
                ))
            })?,
        };
        let root_cert = root_cert
            .map(|text| RootCerts::parse(&text))
            .or_else(|| ssl_root_cert.map(|p| RootCerts::File(p.to_path_buf())))
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
            tls: Tls {
                mode: ssl_mode,
                root_cert,
            },
            connect_timeout,
        })
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

    /// The redacted URL: `postgres://user@host:port/database`, never a password.
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

    /// Opens a connection (its driver runs on a spawned task until the client is dropped).
    pub(crate) async fn connect(&self) -> Result<Client, PostgresError> {
        let mut config = tokio_postgres::Config::new();
        if self.unix_socket {
            config.host_path(&self.host);
        } else {
            config.host(&self.host);
        }
        config
            .port(self.port)
            .user(&self.user)
            .dbname(&self.database)
            .application_name("lifeboat")
            .connect_timeout(self.connect_timeout);
        if let Some(password) = &self.password {
            config.password(password);
        }
        let connect_error = |e: tokio_postgres::Error| {
            let mut message = pg_message(&e);
            if let Some(hint) = tls::hint(&message, &self.tls, &self.host) {
                message = format!("{message} ({hint})");
            }
            PostgresError::Connect {
                server: self.describe(),
                message,
            }
        };
        // libpq never uses TLS over a unix socket (the server refuses it there).
        let connector = if self.unix_socket {
            None
        } else {
            self.tls.connector().map_err(|reason| PostgresError::Tls {
                server: self.describe(),
                reason,
            })?
        };
        let server = self.describe();
        let client = match connector {
            None => {
                config.ssl_mode(PgSslMode::Disable);
                let (client, connection) = config.connect(NoTls).await.map_err(connect_error)?;
                spawn_driver(server, connection);
                client
            }
            Some(connector) => {
                config.ssl_mode(if self.tls.mode.requires_tls() {
                    PgSslMode::Require
                } else {
                    PgSslMode::Prefer
                });
                let (client, connection) =
                    config.connect(connector).await.map_err(connect_error)?;
                spawn_driver(server, connection);
                client
            }
        };
        Ok(client)
    }

    /// Runs one statement outside any transaction (e.g. `CREATE DATABASE`).
    pub(crate) async fn execute(
        &self,
        client: &Client,
        step: Step,
        sql: &str,
    ) -> Result<(), PostgresError> {
        client
            .batch_execute(sql)
            .await
            .map_err(|e| PostgresError::query(step, self, &e))
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
            env.push(("PGPASSWORD", password.clone()));
        }
        env
    }
}

/// Runs a connection's driver until the client is dropped.
fn spawn_driver<S, T>(server: String, connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(server = %server, "postgres connection ended: {}", pg_message(&e));
        }
    });
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (percent-decoded), returning the
/// rest of the URL for tokio-postgres.
fn split_ssl_params(url: &str) -> Result<(String, Option<String>, Option<String>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None, None));
    };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(percent_decode(value)?),
            "sslrootcert" => root = Some(percent_decode(value)?),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, mode, root))
}

/// Decodes `%XX` escapes (and nothing else: `+` stays `+`, as in libpq).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in `{text}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{text}` is not UTF-8 once decoded"))
}

/// `url` with its passwords removed: the user-info's (`postgres://u:secret@h/db` →
/// `postgres://u@h/db`) and a `password=` query parameter's value (libpq and tokio-postgres
/// accept `?password=secret`; it becomes `?password=***`). Text that is not a URL is returned
/// as is.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let authority = match authority.rfind('@') {
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or_default();
            format!("{user}{}", &authority[at..])
        }
        None => authority.to_string(),
    };
    format!(
        "{}://{authority}{}",
        &url[..scheme_end],
        redact_query_password(&rest[authority_end..])
    )
}

/// `path?query#fragment` with the value of every `password` query parameter replaced by `***`.
fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    match fragment {
        Some(fragment) => format!("{path}?{query}#{fragment}"),
        None => format!("{path}?{query}"),
    }
}

/// Quotes an SQL identifier (`"my ""odd"" name"`).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal (`'it''s'`).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:s3cr%40t@h:5432/db?x=1"),
            "postgres://u@h:5432/db?x=1"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(redact_url("postgres://u:p@ss@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=s3cret&x=1"),
            "postgres://u@h/db?sslmode=require&password=***&x=1"
        );
        assert_eq!(
            redact_url("postgresql://u:a@h?password=b#frag"),
            "postgresql://u@h?password=***#frag"
        );
    }

    #[test]
    fn a_password_in_the_query_is_used_but_never_shown() {
        let t = Duration::from_secs(3);
        let info =
            ConnInfo::parse("postgres://bob@h:5432/db?password=hunter2", None, None, t).unwrap();
        assert!(info
            .child_env()
            .contains(&("PGPASSWORD", "hunter2".to_string())));
        assert!(!info.describe().contains("hunter2"));
        let err = ConnInfo::parse("postgres://bob@h/db?password=hunter2&port=x", None, None, t)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let options = crate::PostgresOptions::from_url("postgres://bob@h/db?password=hunter2");
        assert!(!format!("{options:?}").contains("hunter2"));
    }

    #[test]
    fn parses_and_describes_without_password() {
        let info = ConnInfo::parse(
            "postgres://bob:hunter2@db.local:6543/orders",
            None,
            None,
            Duration::from_secs(3),
        )
        .unwrap();
        assert_eq!(info.describe(), "postgres://bob@db.local:6543/orders");
        assert!(!format!("{info:?}").contains("hunter2"));
        let env = info.child_env();
        assert!(env.contains(&("PGPASSWORD", "hunter2".to_string())));
        let other = ConnInfo::parse(
            "postgres://bob:x@h/o",
            Some("y"),
            None,
            Duration::from_secs(3),
        )
        .unwrap();
        assert!(other.child_env().contains(&("PGPASSWORD", "y".to_string())));
        let err = ConnInfo::parse(
            "mysql://bob:hunter2@h/db",
            None,
            None,
            Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn ssl_params_are_taken_out_of_the_url() {
        let t = Duration::from_secs(3);
        let info = ConnInfo::parse(
            "postgres://u@h/db?sslmode=verify-ca&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
            None,
            Some(Path::new("/other.pem")),
            t,
        )
        .unwrap();
        let env = info.child_env();
        assert!(env.contains(&("PGSSLMODE", "verify-ca".into())));
        assert!(env.contains(&("PGSSLROOTCERT", "/etc/ca.pem".into())));
        let info = ConnInfo::parse(
            "postgres://u@h/db?sslmode=require",
            None,
            Some(Path::new("/ca.pem")),
            t,
        )
        .unwrap();
        assert!(info
            .child_env()
            .contains(&("PGSSLROOTCERT", "/ca.pem".into())));
        let err = ConnInfo::parse("postgres://u:pw@h/db?sslmode=verify", None, None, t)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown sslmode `verify`"), "{err}");
        assert!(!err.contains("pw@"), "{err}");
        assert_eq!(
            split_ssl_params("postgres://h/db?sslmode=disable").unwrap(),
            (
                "postgres://h/db".to_string(),
                Some("disable".to_string()),
                None
            )
        );
        assert!(percent_decode("%zz").is_err());
        assert_eq!(percent_decode("a%20b+c").unwrap(), "a b+c");
    }

    #[test]
    fn quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
