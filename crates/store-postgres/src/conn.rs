//! Where a server is and how to reach it: the parsed URL ([`ConnInfo`]), its redacted form, the
//! in-process connection (tokio-postgres) and the environment handed to the client tools.

use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, NoTls};

use crate::error::{pg_message, PostgresError, Step};

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
    ssl_mode: Option<&'static str>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl ConnInfo {
    /// Parses `postgres://user[:password]@host[:port]/database`; `password` (when given) wins
    /// over the URL's.
    pub(crate) fn parse(
        url: &str,
        password: Option<&str>,
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
        let config: tokio_postgres::Config = url.parse().map_err(|e| bad(pg_message(&e)))?;
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
        let ssl_mode = match config.get_ssl_mode() {
            SslMode::Disable => Some("disable"),
            SslMode::Prefer => None,
            _ => {
                return Err(bad(
                    "sslmode=require is not supported yet (use disable or prefer)".to_string(),
                ))
            }
        };
        Ok(Self {
            host,
            unix_socket,
            port,
            user,
            password,
            database,
            ssl_mode,
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
            .connect_timeout(self.connect_timeout)
            .ssl_mode(if self.ssl_mode.is_some() {
                SslMode::Disable
            } else {
                SslMode::Prefer
            });
        if let Some(password) = &self.password {
            config.password(password);
        }
        let (client, connection) =
            config
                .connect(NoTls)
                .await
                .map_err(|e| PostgresError::Connect {
                    server: self.describe(),
                    message: pg_message(&e),
                })?;
        let server = self.describe();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(server = %server, "postgres connection ended: {}", pg_message(&e));
            }
        });
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
        if let Some(mode) = self.ssl_mode {
            env.push(("PGSSLMODE", mode.to_string()));
        }
        if let Some(password) = &self.password {
            env.push(("PGPASSWORD", password.clone()));
        }
        env
    }
}

/// `url` with the password of its user-info removed (`postgres://u:secret@h/db` →
/// `postgres://u@h/db`); text that is not a URL is returned as is.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split(':').next().unwrap_or_default();
    format!(
        "{}://{}{}{}",
        &url[..scheme_end],
        user,
        &authority[at..],
        &rest[authority_end..]
    )
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
    }

    #[test]
    fn parses_and_describes_without_password() {
        let info = ConnInfo::parse(
            "postgres://bob:hunter2@db.local:6543/orders",
            None,
            Duration::from_secs(3),
        )
        .unwrap();
        assert_eq!(info.describe(), "postgres://bob@db.local:6543/orders");
        assert!(!format!("{info:?}").contains("hunter2"));
        let env = info.child_env();
        assert!(env.contains(&("PGPASSWORD", "hunter2".to_string())));
        let other =
            ConnInfo::parse("postgres://bob:x@h/o", Some("y"), Duration::from_secs(3)).unwrap();
        assert!(other.child_env().contains(&("PGPASSWORD", "y".to_string())));
        let err = ConnInfo::parse("mysql://bob:hunter2@h/db", None, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
