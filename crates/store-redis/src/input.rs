//! [`Input`]: a buffered async reader that counts the bytes it consumes, keeps a running
//! CRC64 (Redis/Jones) over them and can capture them into a buffer (to turn an RDB value's
//! bytes into a `DUMP` payload).

use std::io;

use crc::{Crc, Digest, CRC_64_REDIS};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Redis's CRC64 (Jones polynomial, reflected), as used by RDB files and `DUMP` payloads.
pub(crate) static CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

const BUF: usize = 64 * 1024;

/// A buffered reader over `R` with byte counting, CRC64 and optional capture.
pub(crate) struct Input<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    offset: u64,
    crc: Option<Digest<'static, u64>>,
    capture: Option<Vec<u8>>,
}

impl<R: AsyncRead + Unpin> Input<R> {
    /// A reader over `inner`, with the CRC running from the first byte.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0u8; BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            offset: 0,
            crc: Some(CRC64.digest()),
            capture: None,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Stops the CRC and returns its value over every byte consumed so far.
    pub fn take_crc(&mut self) -> u64 {
        self.crc.take().map(|d| d.finalize()).unwrap_or(0)
    }

    /// Starts capturing consumed bytes, beginning with `prefix`.
    pub fn start_capture(&mut self, prefix: &[u8]) {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(prefix);
        self.capture = Some(v);
    }

    /// Stops capturing and returns what was captured.
    pub fn end_capture(&mut self) -> Vec<u8> {
        self.capture.take().unwrap_or_default()
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.pos < self.end {
            return Ok(());
        }
        let n = self.inner.read(&mut self.buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the stream ends early (after {} bytes)", self.offset),
            ));
        }
        self.pos = 0;
        self.end = n;
        Ok(())
    }

    /// Whether the stream is at its end (reads more if the buffer is empty).
    pub async fn at_eof(&mut self) -> io::Result<bool> {
        if self.pos < self.end {
            return Ok(false);
        }
        let n = self.inner.read(&mut self.buf).await?;
        self.pos = 0;
        self.end = n;
        Ok(n == 0)
    }

    fn consume(&mut self, n: usize, into: Option<&mut Vec<u8>>) {
        let slice = &self.buf[self.pos..self.pos + n];
        if let Some(d) = self.crc.as_mut() {
            d.update(slice);
        }
        if let Some(c) = self.capture.as_mut() {
            c.extend_from_slice(slice);
        }
        if let Some(v) = into {
            v.extend_from_slice(slice);
        }
        self.pos += n;
        self.offset += n as u64;
    }

    /// One byte.
    pub async fn u8(&mut self) -> io::Result<u8> {
        self.fill().await?;
        let b = self.buf[self.pos];
        self.consume(1, None);
        Ok(b)
    }

    /// `N` bytes.
    pub async fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut out = [0u8; N];
        let mut done = 0;
        while done < N {
            self.fill().await?;
            let n = (self.end - self.pos).min(N - done);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.consume(n, None);
            done += n;
        }
        Ok(out)
    }

    /// `n` bytes appended to `into` (or skipped when `into` is `None`).
    pub async fn take(&mut self, mut n: u64, mut into: Option<&mut Vec<u8>>) -> io::Result<()> {
        while n > 0 {
            self.fill().await?;
            let k = ((self.end - self.pos) as u64).min(n) as usize;
            self.consume(k, into.as_deref_mut());
            n -= k as u64;
        }
        Ok(())
    }

    /// `n` bytes as a vector (`n` is checked against `limit` first).
    pub async fn bytes(&mut self, n: u64, limit: u64) -> io::Result<Vec<u8>> {
        if n > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a length of {n} bytes is implausible here"),
            ));
        }
        let mut v = Vec::with_capacity(n.min(1 << 20) as usize);
        self.take(n, Some(&mut v)).await?;
        Ok(v)
    }
}
