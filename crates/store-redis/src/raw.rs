//! Raw connections: a byte stream to a server (plain TCP, or TLS for `rediss://`), used where
//! fred has no API (`SYNC`, see [`crate::repl`]) or where its per-command overhead matters
//! (the logical backup's `SCAN`/`DUMP`/`PTTL` traffic: a whole page of commands goes out in one
//! write and the replies are parsed straight from the read buffer).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::options::Endpoint;
use crate::resp::{self, Reply};
use crate::tls;
use crate::RedisError;

/// A connected byte stream (plain or TLS).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed [`Io`].
pub(crate) type Stream = Box<dyn Io>;

/// Opens the byte stream to `ep` (TCP, then TLS for `rediss://`), without any command.
pub(crate) async fn open(ep: &Endpoint) -> Result<Stream, RedisError> {
    let server = ep.redacted();
    let conn_err = |message: String| RedisError::Connection {
        server: server.clone(),
        step: "connect",
        message,
    };
    let tcp = tokio::time::timeout(
        ep.connect_timeout,
        TcpStream::connect((ep.host.as_str(), ep.port)),
    )
    .await
    .map_err(|_| conn_err(format!("no connection within {:?}", ep.connect_timeout)))?
    .map_err(|e| conn_err(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    if !ep.tls {
        return Ok(Box::new(tcp));
    }
    let connector = tokio_rustls::TlsConnector::from(tls::client_config(ep)?);
    let name = tls::server_name(ep)?;
    let tls_err = |message: String| RedisError::Connection {
        server: server.clone(),
        step: "TLS handshake",
        message,
    };
    let stream = tokio::time::timeout(ep.connect_timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| tls_err(format!("no TLS handshake within {:?}", ep.connect_timeout)))?
        .map_err(|e| {
            let text = e.to_string();
            tls_err(tls::explain(&text).unwrap_or(text))
        })?;
    Ok(Box::new(stream))
}

/// How long a reply may take before the connection is given up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// A raw command connection: pipelined RESP2 commands, replies read in order.
pub(crate) struct RawConn {
    io: Stream,
    rbuf: Vec<u8>,
    /// Start of the unread bytes in `rbuf`.
    start: usize,
    /// The redacted server URL, for messages.
    pub server: String,
}

impl RawConn {
    /// Connects and authenticates (`AUTH [user] password` when the endpoint has one).
    pub async fn connect(ep: &Endpoint) -> Result<Self, RedisError> {
        let io = open(ep).await?;
        let mut conn = Self {
            io,
            rbuf: Vec::with_capacity(256 * 1024),
            start: 0,
            server: ep.redacted(),
        };
        if let Some(password) = &ep.password {
            let mut cmd = Vec::new();
            match &ep.username {
                Some(u) => resp::command(&[b"AUTH", u.as_bytes(), password.as_bytes()], &mut cmd),
                None => resp::command(&[b"AUTH", password.as_bytes()], &mut cmd),
            }
            conn.send(&cmd).await?;
            if let Reply::Error(message) = conn.reply().await? {
                return Err(RedisError::Auth {
                    server: conn.server,
                    message: ep.scrub(&message),
                });
            }
        }
        Ok(conn)
    }

    fn broken(&self, message: String) -> RedisError {
        RedisError::Connection {
            server: self.server.clone(),
            step: "raw command connection",
            message,
        }
    }

    /// Writes pipelined commands (see [`resp::command`]).
    pub async fn send(&mut self, data: &[u8]) -> Result<(), RedisError> {
        match self.io.write_all(data).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.broken(format!("sending commands: {e}"))),
        }
    }

    /// The next reply (an error reply is returned as [`Reply::Error`], not as `Err`).
    pub async fn reply(&mut self) -> Result<Reply, RedisError> {
        loop {
            let mut need = 0;
            match resp::parse(&self.rbuf[self.start..], &mut need) {
                Ok(Some((reply, n))) => {
                    self.start += n;
                    if self.start == self.rbuf.len() {
                        self.rbuf.clear();
                        self.start = 0;
                    }
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(self.broken(format!("malformed reply: {}", e.0))),
            }
            // Compact, then read at least what the partial reply is known to need (bulk
            // strings can be large; the buffer grows only as their bytes arrive).
            if self.start > 0 {
                self.rbuf.drain(..self.start);
                self.start = 0;
            }
            let want = need
                .saturating_sub(self.rbuf.len())
                .clamp(64 * 1024, 4 << 20);
            self.rbuf.reserve(want);
            let read = tokio::time::timeout(REPLY_TIMEOUT, self.io.read_buf(&mut self.rbuf));
            match read.await {
                Ok(Ok(0)) => return Err(self.broken("the server closed the connection".into())),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(self.broken(e.to_string())),
                Err(_) => {
                    return Err(self.broken(format!("no reply within {}s", REPLY_TIMEOUT.as_secs())))
                }
            }
        }
    }

    /// Sends one command and returns its reply; an error reply is `RedisError::Command`.
    pub async fn call(&mut self, name: &str, args: &[&[u8]]) -> Result<Reply, RedisError> {
        let mut all: Vec<&[u8]> = Vec::with_capacity(args.len() + 1);
        all.push(name.as_bytes());
        all.extend_from_slice(args);
        let mut cmd = Vec::new();
        resp::command(&all, &mut cmd);
        self.send(&cmd).await?;
        match self.reply().await? {
            Reply::Error(message) => Err(RedisError::Command {
                server: self.server.clone(),
                command: name.to_string(),
                message,
            }),
            r => Ok(r),
        }
    }

    /// Closes the connection (best effort).
    pub async fn close(mut self) {
        let _ = self.io.shutdown().await;
    }
}
