//! Command connections (fred) and what `INFO` tells about a server.

use std::collections::BTreeMap;
use std::time::Duration;

use fred::prelude::*;
use fred::types::config::{Config as FredConfig, ServerConfig, TlsConnector};
use fred::types::CustomCommand;

use crate::options::Endpoint;
use crate::tls;
use crate::RedisError;

/// A connected command client for one server, with its redacted URL for messages.
pub(crate) struct Conn {
    pub client: Client,
    pub server: String,
}

impl Conn {
    /// Connects (and authenticates), without retries or reconnects.
    pub async fn connect(ep: &Endpoint) -> Result<Self, RedisError> {
        let server = ep.redacted();
        let config = FredConfig {
            server: ServerConfig::new_centralized(ep.host.clone(), ep.port),
            username: ep.username.clone(),
            password: ep.password.clone(),
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
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = ep.connect_timeout;
                c.internal_command_timeout = ep.connect_timeout;
                c.max_command_attempts = 1;
                c.auto_client_setname = false;
            })
            .build()
            .map_err(|e| RedisError::Connection {
                server: server.clone(),
                step: "client setup",
                message: e.to_string(),
            })?;
        let init = tokio::time::timeout(ep.connect_timeout + Duration::from_secs(1), client.init());
        match init.await {
            Ok(Ok(_handle)) => Ok(Self { client, server }),
            Ok(Err(e)) => {
                let _ = client.quit().await;
                // A client or server error text may echo what was sent (AUTH's arguments).
                let text = ep.scrub(e.details());
                if let Some(message) = ep.tls.then(|| tls::explain(&text)).flatten() {
                    return Err(RedisError::Connection {
                        server,
                        step: "TLS handshake",
                        message,
                    });
                }
                let lower = text.to_ascii_lowercase();
                if *e.kind() == fred::error::ErrorKind::Auth
                    || lower.contains("wrongpass")
                    || lower.contains("noauth")
                    || lower.contains("invalid password")
                    || lower.contains("auth")
                {
                    Err(RedisError::Auth {
                        server,
                        message: text,
                    })
                } else {
                    Err(RedisError::Connection {
                        server,
                        step: "connect",
                        message: text,
                    })
                }
            }
            Err(_) => {
                let _ = client.quit().await;
                Err(RedisError::Connection {
                    server,
                    step: "connect",
                    message: format!("no connection within {:?}", ep.connect_timeout),
                })
            }
        }
    }

    /// Runs one command, mapping errors with its name.
    pub async fn cmd(&self, name: &'static str, args: Vec<Value>) -> Result<Value, RedisError> {
        self.client
            .custom::<Value, Value>(CustomCommand::new_static(name, None, false), args)
            .await
            .map_err(|e| self.command_error(name, &e))
    }

    /// The error of command `name`.
    pub fn command_error(&self, name: &str, e: &fred::error::Error) -> RedisError {
        RedisError::Command {
            server: self.server.clone(),
            command: name.to_string(),
            message: e.details().to_string(),
        }
    }

    /// `SELECT db`.
    pub async fn select(&self, db: u32) -> Result<(), RedisError> {
        self.client
            .select(Value::Integer(i64::from(db)))
            .await
            .map_err(|e| self.command_error("SELECT", &e))
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

/// What `INFO` says about a server.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerInfo {
    /// Every `field:value` line.
    pub fields: BTreeMap<String, String>,
    /// Keys per db (`INFO keyspace`).
    pub keyspace: BTreeMap<u32, u64>,
}

impl ServerInfo {
    /// Parses `INFO` text.
    pub fn parse(text: &str) -> Self {
        let mut info = Self::default();
        for line in text.lines() {
            let line = line.trim();
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if let Some(db) = k.strip_prefix("db").and_then(|d| d.parse::<u32>().ok()) {
                let keys = v
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("keys="))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                info.keyspace.insert(db, keys);
            } else {
                info.fields.insert(k.to_string(), v.to_string());
            }
        }
        info
    }

    /// A field's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }

    /// `redis_version`.
    pub fn version(&self) -> String {
        self.get("redis_version").unwrap_or("unknown").to_string()
    }

    /// The manifest's `server` object: version, role, memory, keyspace, persistence.
    pub fn to_json(&self) -> serde_json::Value {
        let num = |k: &str| self.get(k).and_then(|v| v.parse::<u64>().ok());
        serde_json::json!({
            "version": self.version(),
            "role": self.get("role"),
            "mode": self.get("redis_mode"),
            "used_memory": num("used_memory"),
            "keyspace": self.keyspace.iter().map(|(db, n)| (db.to_string(), serde_json::Value::from(*n))).collect::<serde_json::Map<_, _>>(),
            "persistence": {
                "aof_enabled": self.get("aof_enabled").map(|v| v == "1"),
                "rdb_last_save_time": num("rdb_last_save_time"),
                "rdb_changes_since_last_save": num("rdb_changes_since_last_save"),
                "rdb_last_bgsave_status": self.get("rdb_last_bgsave_status"),
            },
        })
    }
}

/// A bulk or simple-string reply as bytes.
pub(crate) fn value_bytes(v: &Value) -> Option<&[u8]> {
    v.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_info() {
        let info = ServerInfo::parse(
            "# Server\r\nredis_version:7.0.15\r\nrole:master\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=5\r\ndb12:keys=7,expires=0,avg_ttl=0\r\n",
        );
        assert_eq!(info.version(), "7.0.15");
        assert_eq!(info.keyspace.get(&12), Some(&7));
        assert_eq!(info.to_json()["keyspace"]["0"], 3);
    }
}
