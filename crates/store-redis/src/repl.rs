//! The replication-protocol snapshot: what `redis-cli --rdb` does, on a raw connection (fred
//! has no API for `SYNC`).
//!
//! `AUTH`, `REPLCONF capa eof capa psync2`, `REPLCONF rdb-only 1` (Redis 7+: the master sends
//! the snapshot and no command stream), then `SYNC`. The master answers with newline
//! keep-alives while it prepares the snapshot, then either a sized bulk `$<len>\r\n<len
//! bytes>` or, for a diskless transfer, `$EOF:<40-byte mark>\r\n<bytes><mark>`. The RDB bytes
//! go to the two writers as they arrive (bounded buffers); the connection is closed right
//! after the snapshot.

use std::io;
use std::time::Duration;

use lifeboat_edge::Scrubbed;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::endpoint::Endpoint;
use crate::raw::{self, Stream};
use crate::server_error::ErrorCode;
use crate::{RedisError, ServerError};

/// How long the server may stay silent (no keep-alive, no data) before the transfer is
/// abandoned.
const IDLE: Duration = Duration::from_secs(120);
const MARK_LEN: usize = 40;

/// What the transfer saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transfer {
    /// RDB bytes received.
    pub bytes: u64,
    /// Whether the master used the diskless `EOF:<mark>` form.
    pub diskless: bool,
}

fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::resp::command(args, &mut out);
    out
}

/// Streams one RDB snapshot from `ep` into `out` and `tee`.
pub(crate) async fn snapshot<T: AsyncWrite + Unpin>(
    ep: &Endpoint,
    out: &mut (dyn AsyncWrite + Send + Unpin),
    tee: &mut T,
) -> Result<Transfer, RedisError> {
    let server = ep.redacted();
    let bad_reply = |message: String| RedisError::Connection {
        server: server.clone(),
        step: "SYNC",
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    };
    let stream = raw::open(ep).await?;
    let mut conn = BufReader::with_capacity(64 * 1024, stream);

    if let Some(password) = &ep.password {
        let cmd = match &ep.username {
            Some(u) => resp(&[b"AUTH", u.as_bytes(), password.expose().as_bytes()]),
            None => resp(&[b"AUTH", password.expose().as_bytes()]),
        };
        send(&mut conn, &cmd, &server).await?;
        let line = read_line(&mut conn, &server).await?;
        if !line.starts_with('+') {
            // An answer to AUTH may echo its arguments.
            let answer = ServerError::new(line.trim_start_matches('-'));
            return Err(RedisError::Auth {
                server,
                source: Scrubbed::new(answer, ep.secrets()),
            });
        }
    }
    // Diskless-capable replica; the answer does not matter (old servers send the sized form).
    send(
        &mut conn,
        &resp(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]),
        &server,
    )
    .await?;
    let line = read_line(&mut conn, &server).await?;
    if let Some(err) = line.strip_prefix('-') {
        let err = ServerError::new(err);
        if matches!(err.code(), ErrorCode::NoPerm | ErrorCode::NoAuth) {
            return Err(RedisError::SyncRefused {
                server,
                source: err,
            });
        }
    }
    send(&mut conn, &resp(&[b"REPLCONF", b"rdb-only", b"1"]), &server).await?;
    let _ = read_line(&mut conn, &server).await?;
    send(&mut conn, &resp(&[b"SYNC"]), &server).await?;

    let header = loop {
        // From here on the server is preparing the snapshot: a closed connection means the
        // transfer broke off.
        let line = read_line(&mut conn, &server).await.map_err(|e| match e {
            RedisError::Connection { source, .. } => RedisError::TransferBroken {
                server: server.clone(),
                bytes: 0,
                source,
            },
            other => other,
        })?;
        if line.is_empty() || line.starts_with('+') {
            continue; // keep-alive newline, or +FULLRESYNC
        }
        if let Some(err) = line.strip_prefix('-') {
            return Err(RedisError::SyncRefused {
                server,
                source: ServerError::new(err),
            });
        }
        match line.strip_prefix('$') {
            Some(rest) => break rest.to_string(),
            None => {
                return Err(bad_reply(format!(
                    "unexpected reply {:?}",
                    line.chars().take(40).collect::<String>()
                )))
            }
        }
    };

    let broken = |bytes: u64, source: io::Error| RedisError::TransferBroken {
        server: server.clone(),
        bytes,
        source,
    };
    let closed = |what: String| io::Error::new(io::ErrorKind::UnexpectedEof, what);
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    if let Some(mark) = header.strip_prefix("EOF:") {
        let mark = mark.as_bytes().to_vec();
        if mark.len() != MARK_LEN {
            return Err(bad_reply("bad EOF mark in the snapshot header".to_string()));
        }
        let mut scanner = EofMark::new(mark);
        loop {
            let n = read_some(&mut conn, &mut buf)
                .await
                .map_err(|e| broken(received, e))?;
            if n == 0 {
                return Err(broken(
                    received,
                    closed("the server closed the connection".into()),
                ));
            }
            let (body, end) = scanner.feed(&buf[..n]);
            write_both(out, tee, body).await?;
            received += body.len() as u64;
            if end {
                return Ok(Transfer {
                    bytes: received,
                    diskless: true,
                });
            }
        }
    } else {
        let len: u64 = header
            .trim()
            .parse()
            .map_err(|_| bad_reply(format!("bad bulk length {header:?}")))?;
        while received < len {
            let want = ((len - received) as usize).min(buf.len());
            let n = read_some(&mut conn, &mut buf[..want])
                .await
                .map_err(|e| broken(received, e))?;
            if n == 0 {
                return Err(broken(
                    received,
                    closed(format!(
                        "the server closed the connection ({len} bytes announced)"
                    )),
                ));
            }
            write_both(out, tee, &buf[..n]).await?;
            received += n as u64;
        }
        Ok(Transfer {
            bytes: received,
            diskless: false,
        })
    }
}

/// Finds the end of a diskless transfer: the body is followed by the 40-byte mark from the
/// `$EOF:<mark>` header. The last 40 bytes seen are held back (they may be the mark, or its
/// start when it is split across reads), so memory stays at one read plus 40 bytes.
pub(crate) struct EofMark {
    mark: Vec<u8>,
    tail: Vec<u8>,
    /// Bytes at the start of `tail` handed out by the last `feed`.
    emitted: usize,
}

impl EofMark {
    /// A scanner for `mark`.
    pub fn new(mark: Vec<u8>) -> Self {
        Self {
            mark,
            tail: Vec::with_capacity(64 * 1024 + MARK_LEN),
            emitted: 0,
        }
    }

    /// Takes the next bytes read; returns the bytes now known to be RDB body and whether the
    /// mark ended the stream with them.
    pub fn feed(&mut self, data: &[u8]) -> (&[u8], bool) {
        self.tail.drain(..self.emitted);
        self.tail.extend_from_slice(data);
        if self.tail.ends_with(&self.mark) {
            let body = self.tail.len() - self.mark.len();
            self.emitted = self.tail.len();
            return (&self.tail[..body], true);
        }
        self.emitted = self.tail.len().saturating_sub(self.mark.len());
        (&self.tail[..self.emitted], false)
    }
}

async fn write_both<T: AsyncWrite + Unpin>(
    out: &mut (dyn AsyncWrite + Send + Unpin),
    tee: &mut T,
    data: &[u8],
) -> Result<(), RedisError> {
    if data.is_empty() {
        return Ok(());
    }
    out.write_all(data).await.map_err(RedisError::Output)?;
    // The tee is the in-process checker; if it stopped (it found a problem), its error is
    // reported instead.
    let _ = tee.write_all(data).await;
    Ok(())
}

async fn send(conn: &mut BufReader<Stream>, data: &[u8], server: &str) -> Result<(), RedisError> {
    conn.get_mut()
        .write_all(data)
        .await
        .map_err(|source| RedisError::Connection {
            server: server.to_string(),
            step: "sending a replication command",
            source,
        })
}

fn idle() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the server sent nothing for {}s", IDLE.as_secs()),
    )
}

async fn read_some(conn: &mut BufReader<Stream>, buf: &mut [u8]) -> io::Result<usize> {
    tokio::time::timeout(IDLE, conn.read(buf))
        .await
        .map_err(|_| idle())?
}

/// One reply line without its line end (empty for a keep-alive newline).
async fn read_line(conn: &mut BufReader<Stream>, server: &str) -> Result<String, RedisError> {
    let mut line = Vec::new();
    let err = |source| RedisError::Connection {
        server: server.to_string(),
        step: "replication handshake",
        source,
    };
    let n = tokio::time::timeout(IDLE, (&mut *conn).take(4096).read_until(b'\n', &mut line))
        .await
        .map_err(|_| err(idle()))?
        .map_err(err)?;
    if n == 0 {
        return Err(err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MARK: &[u8; MARK_LEN] = b"0123456789abcdef0123456789abcdef01234567";

    proptest! {
        /// However the body and the mark are split across reads (the mark too), exactly the
        /// body comes out and the end is seen with the last read, not before.
        #[test]
        fn the_mark_is_found_across_any_split(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            let mut stream = body.clone();
            stream.extend_from_slice(MARK);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.push(stream.len());
            cuts.sort_unstable();
            cuts.dedup();
            let mut scanner = EofMark::new(MARK.to_vec());
            let mut out = Vec::new();
            let mut start = 0;
            let mut ended = false;
            for cut in cuts {
                let (chunk, end) = scanner.feed(&stream[start..cut]);
                prop_assert!(!ended, "data after the end");
                out.extend_from_slice(chunk);
                ended = end;
                prop_assert_eq!(end, cut == stream.len());
                prop_assert!(scanner.tail.len() <= MARK_LEN + (cut - start));
                start = cut;
            }
            prop_assert!(ended);
            prop_assert_eq!(out, body);
        }

        /// A stream that breaks off before its mark never ends and never hands out its
        /// last 40 bytes (which could be the start of the mark).
        #[test]
        fn a_stream_without_its_mark_never_ends(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            keep in 0usize..MARK_LEN,
        ) {
            let mut stream = body.clone();
            stream.extend_from_slice(&MARK[..keep]);
            let mut scanner = EofMark::new(MARK.to_vec());
            let mut out = Vec::new();
            for b in stream.chunks(7) {
                let (chunk, end) = scanner.feed(b);
                prop_assert!(!end);
                out.extend_from_slice(chunk);
            }
            prop_assert_eq!(out.len(), stream.len().saturating_sub(MARK_LEN));
        }
    }
}
