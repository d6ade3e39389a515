//! Opening lifeboat's own connection to a server (tokio-postgres, TLS by rustls as libpq's
//! `sslmode` says), and running a statement on it.

use std::time::Duration;

use lifeboat_edge::tls::certificate_error;
use lifeboat_edge::Scrubbed;
use rustls::CertificateError;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::{Client, NoTls};

use super::driver::spawn_driver;
use super::info::ConnInfo;
use super::tls::RootCerts;
use crate::error::{PostgresError, ServerError, Step, TlsHint};

/// Idle time before the first keepalive probe.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// Time between probes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// Unanswered probes before the connection is given up.
const KEEPALIVE_RETRIES: u32 = 3;
/// How long sent data may stay unacknowledged.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);

impl ConnInfo {
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
            .dbname(self.database())
            .application_name("lifeboat")
            .connect_timeout(self.connect_timeout)
            // A server host that dies or drops off the network mid-query would otherwise
            // leave a query waiting for ever: keepalives find a silent peer in about a
            // minute, and unacknowledged writes give up after the same.
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES)
            .tcp_user_timeout(TCP_USER_TIMEOUT);
        if let Some(password) = &self.password {
            config.password(password.expose());
        }
        // libpq never uses TLS over a unix socket (the server refuses it there).
        let connector = if self.unix_socket {
            None
        } else {
            self.tls.connector().map_err(|source| PostgresError::Tls {
                server: self.describe(),
                source,
            })?
        };
        let server = self.describe();
        let client = match connector {
            None => {
                config.ssl_mode(PgSslMode::Disable);
                let (client, connection) = config
                    .connect(NoTls)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                spawn_driver(server, connection);
                client
            }
            Some(connector) => {
                config.ssl_mode(if self.tls.mode.requires_tls() {
                    PgSslMode::Require
                } else {
                    PgSslMode::Prefer
                });
                let (client, connection) = config
                    .connect(connector)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                spawn_driver(server, connection);
                client
            }
        };
        Ok(client)
    }

    /// A failed connection attempt, with a hint when the handshake rejected the server's
    /// certificate (recognised by the rustls error's type, not its text).
    fn connect_error(&self, error: tokio_postgres::Error) -> PostgresError {
        let hint = certificate_error(&error).and_then(|problem| match problem {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Some(TlsHint::WrongName {
                    host: self.host.clone(),
                })
            }
            CertificateError::UnknownIssuer => Some(TlsHint::UnknownIssuer {
                ca_file: match &self.tls.root_cert {
                    Some(RootCerts::File(path)) => Some(path.clone()),
                    Some(RootCerts::System) | None => None,
                },
            }),
            _ => None,
        });
        PostgresError::Connect {
            server: self.describe(),
            source: Scrubbed::new(ServerError(error), self.secrets()),
            hint,
        }
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
            .map_err(|e| PostgresError::query(step, self, e))
    }
}
