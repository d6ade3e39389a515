//! Raw connections: a byte stream to a server (plain TCP, or TLS for `rediss://`), used where
//! fred has no API (`SYNC`, see [`crate::repl`]) or where its per-command overhead matters
//! (the logical backup's `SCAN`/`DUMP`/`PTTL` traffic: a whole page of commands goes out in one
//! write and the replies are parsed straight from the read buffer).

use std::io;
use std::time::Duration;

use lifeboat_edge::Scrubbed;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::endpoint::Endpoint;
use crate::error::ReplyError;
use crate::resp::{self, Reply};
use crate::{tls, RedisError, ServerError};

/// A connected byte stream (plain or TLS).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed [`Io`].
pub(crate) type Stream = Box<dyn Io>;

/// Opens the byte stream to `ep` (TCP, then TLS for `rediss://`), without any command.
pub(crate) async fn open(ep: &Endpoint) -> Result<Stream, RedisError> {
    let server = ep.redacted();
    let failed = |step, source| RedisError::Connection {
        server: server.clone(),
        step,
        source,
    };
    let timed_out = |what: &str| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no {what} within {:?}", ep.connect_timeout),
        )
    };
    let tcp = tokio::time::timeout(
        ep.connect_timeout,
        TcpStream::connect((ep.host.as_str(), ep.port)),
    )
    .await
    .map_err(|_| failed("connect", timed_out("connection")))?
    .map_err(|e| failed("connect", e))?;
    let _ = tcp.set_nodelay(true);
    if !ep.tls {
        return Ok(Box::new(tcp));
    }
    let connector = tokio_rustls::TlsConnector::from(tls::client_config(ep)?);
    let name = tls::server_name(ep)?;
    let stream = tokio::time::timeout(ep.connect_timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| failed("TLS handshake", timed_out("TLS handshake")))?
        .map_err(|e| tls::rejected(&server, &e).unwrap_or_else(|| failed("TLS handshake", e)))?;
    Ok(Box::new(stream))
}

/// A raw command connection: pipelined RESP2 commands, replies read in order.
pub(crate) struct RawConn {
    io: Stream,
    rbuf: Vec<u8>,
    /// Start of the unread bytes in `rbuf`.
    start: usize,
    /// The redacted server URL, for messages.
    pub server: String,
    /// How long a reply may take ([`Endpoint::reply_timeout`]).
    reply_timeout: Duration,
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
            reply_timeout: ep.reply_timeout,
        };
        if let Some(password) = &ep.password {
            let mut cmd = Vec::new();
            match &ep.username {
                Some(u) => resp::command(
                    &[b"AUTH", u.as_bytes(), password.expose().as_bytes()],
                    &mut cmd,
                ),
                None => resp::command(&[b"AUTH", password.expose().as_bytes()], &mut cmd),
            }
            conn.send(&cmd).await?;
            if let Reply::Error(message) = conn.reply().await? {
                // An answer to AUTH may echo its arguments.
                return Err(RedisError::Auth {
                    server: conn.server,
                    source: Scrubbed::new(ServerError::new(message), ep.secrets()),
                });
            }
        }
        Ok(conn)
    }

    fn broken(&self, step: &'static str, source: io::Error) -> RedisError {
        RedisError::Connection {
            server: self.server.clone(),
            step,
            source,
        }
    }

    /// Writes pipelined commands (see [`resp::command`]).
    pub async fn send(&mut self, data: &[u8]) -> Result<(), RedisError> {
        match self.io.write_all(data).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.broken("sending commands", e)),
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
                Err(source) => {
                    return Err(RedisError::Protocol {
                        server: self.server.clone(),
                        source,
                    })
                }
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
            let read = tokio::time::timeout(self.reply_timeout, self.io.read_buf(&mut self.rbuf));
            let step = "reading replies";
            match read.await {
                Ok(Ok(0)) => {
                    return Err(self.broken(
                        step,
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        ),
                    ))
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(self.broken(step, e)),
                Err(_) => {
                    return Err(self.broken(
                        step,
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no reply within {:?}", self.reply_timeout),
                        ),
                    ))
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
                source: ReplyError::Server(ServerError::new(message)),
            }),
            r => Ok(r),
        }
    }

    /// Closes the connection (best effort).
    pub async fn close(mut self) {
        let _ = self.io.shutdown().await;
    }
}
