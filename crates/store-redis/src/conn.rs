//! [`Conn`]: a command connection through fred, for what needs no pipelining of our own
//! (`INFO`, `SELECT`, the drill's `SCAN` of the scratch server).

use std::io;
use std::time::Duration;

use fred::prelude::*;
use fred::types::config::{Config as FredConfig, ServerConfig, TlsConnector};
use fred::types::CustomCommand;
use lifeboat_edge::{Scrubbed, Secret};

use crate::endpoint::Endpoint;
use crate::error::ReplyError;
use crate::info::ServerInfo;
use crate::{raw, tls, RedisError};

/// A connected command client for one server, with its redacted URL for messages.
pub(crate) struct Conn {
    pub client: Client,
    pub server: String,
    password: Option<Secret>,
}

impl Conn {
    /// Connects (and authenticates), without retries or reconnects.
    pub async fn connect(ep: &Endpoint) -> Result<Self, RedisError> {
        let server = ep.redacted();
        let config = FredConfig {
            server: ServerConfig::new_centralized(ep.host.clone(), ep.port),
            username: ep.username.clone(),
            password: ep.password.as_ref().map(|p| p.expose().to_string()),
            database: None,
            fail_fast: true,
            tls: if ep.tls {
                Some(
                    TlsConnector::from(tokio_rustls::TlsConnector::from(tls::client_config(ep)?))
                        .into(),
                )
            } else {
                None
            },
            ..Default::default()
        };
        let scrubbed = |e: fred::error::Error| Scrubbed::new(e, ep.secrets());
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = ep.connect_timeout;
                c.internal_command_timeout = ep.connect_timeout;
                c.max_command_attempts = 1;
                c.auto_client_setname = false;
            })
            // fred waits for a reply for ever by default: a server that stops answering
            // (frozen, or behind a stalled proxy) would hang `INFO`, `SELECT` or a drill's
            // `SCAN` as long as the TCP connection stays up.
            .with_performance_config(|p| p.default_command_timeout = ep.reply_timeout)
            .build()
            .map_err(|e| RedisError::Client {
                server: server.clone(),
                step: "client setup",
                source: scrubbed(e),
            })?;
        let init = tokio::time::timeout(ep.connect_timeout + Duration::from_secs(1), client.init());
        match init.await {
            Ok(Ok(_handle)) => Ok(Self {
                client,
                server,
                password: ep.password.clone(),
            }),
            Ok(Err(e)) => {
                let _ = client.quit().await;
                if *e.kind() == fred::error::ErrorKind::Auth {
                    return Err(RedisError::Auth {
                        server,
                        source: scrubbed(e),
                    });
                }
                // fred reports a handshake failure as text only: a raw TLS connection tells
                // whether the certificate was what failed, by type.
                if ep.tls {
                    if let Err(rejected @ RedisError::CertificateRejected { .. }) =
                        raw::open(ep).await
                    {
                        return Err(rejected);
                    }
                }
                Err(RedisError::Client {
                    server,
                    step: "connect",
                    source: scrubbed(e),
                })
            }
            Err(_) => {
                let _ = client.quit().await;
                Err(RedisError::Connection {
                    server,
                    step: "connect",
                    source: io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no connection within {:?}", ep.connect_timeout),
                    ),
                })
            }
        }
    }

    /// Runs one command, mapping errors with its name.
    pub async fn cmd(&self, name: &'static str, args: Vec<Value>) -> Result<Value, RedisError> {
        self.client
            .custom::<Value, Value>(CustomCommand::new_static(name, None, false), args)
            .await
            .map_err(|e| self.command_error(name, e))
    }

    /// The error of command `name`.
    pub fn command_error(&self, name: &str, e: fred::error::Error) -> RedisError {
        RedisError::Command {
            server: self.server.clone(),
            command: name.to_string(),
            source: ReplyError::Client(Scrubbed::new(e, self.password.iter().map(Secret::expose))),
        }
    }

    /// `SELECT db`.
    pub async fn select(&self, db: u32) -> Result<(), RedisError> {
        self.client
            .select(Value::Integer(i64::from(db)))
            .await
            .map_err(|e| self.command_error("SELECT", e))
    }

    /// `INFO`, parsed.
    pub async fn info(&self) -> Result<ServerInfo, RedisError> {
        let text = self.cmd("INFO", vec![]).await?;
        let text = text.as_str().map(|s| s.into_owned()).unwrap_or_default();
        Ok(ServerInfo::parse(&text))
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.client.quit().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_server_is_a_connection_error() {
        let mut ep = Endpoint::parse(&format!(
            "redis://:pw-zz@127.0.0.1:{}",
            lifeboat_testing::free_port()
        ))
        .unwrap();
        ep.connect_timeout = Duration::from_secs(2);
        let err = Conn::connect(&ep).await.err().unwrap();
        assert!(
            matches!(
                err,
                RedisError::Client {
                    step: "connect",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!format!("{err} {err:?}").contains("pw-zz"));
    }

    /// A server that takes part in fred's connection set-up (`PING`, `CLIENT ID`, `INFO
    /// server`) and then never answers again, like one frozen behind a proxy: the next
    /// command gives up after the reply timeout instead of waiting for ever.
    #[tokio::test]
    async fn a_server_that_stops_answering_times_out() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            let mut infos = 0;
            // Each command is `*N`, then `$len` and a value per word; the name is the first.
            while let Ok(Some(line)) = lines.next_line().await {
                if !line.starts_with('*') {
                    continue;
                }
                let words: usize = line[1..].parse().unwrap();
                let mut args = Vec::new();
                for _ in 0..words {
                    lines.next_line().await.unwrap();
                    args.push(lines.next_line().await.unwrap().unwrap().to_uppercase());
                }
                let reply: &[u8] = match args[0].as_str() {
                    "PING" => b"+PONG\r\n",
                    "CLIENT" => b":7\r\n",
                    "INFO" if infos == 0 => b"$20\r\nredis_version:7.0.15\r\n",
                    "INFO" => {
                        // Hold the connection open, answer nothing.
                        std::future::pending::<()>().await;
                        unreachable!()
                    }
                    _ => b"+OK\r\n",
                };
                if args[0] == "INFO" {
                    infos += 1;
                }
                write.write_all(reply).await.unwrap();
            }
        });
        let mut ep = Endpoint::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
        ep.connect_timeout = Duration::from_secs(5);
        ep.reply_timeout = Duration::from_secs(1);
        let conn = Conn::connect(&ep).await.expect("the set-up is answered");
        let outcome = tokio::time::timeout(Duration::from_secs(20), conn.info())
            .await
            .expect("INFO waited past its reply timeout");
        let Err(err) = outcome else {
            panic!("a silent server gave a reply");
        };
        assert!(
            matches!(&err, RedisError::Command { command, .. } if command == "INFO"),
            "{err:?}"
        );
        silent.abort();
    }
}
