//! The `pg_dump-bundle` format: several dumps (databases, globals) in one stream, written and
//! read as they come, with no size known up front.
//!
//! ```text
//! bundle  := MAGIC part* end
//! MAGIC   := "LIFEBOAT-PG-BUNDLE/1\n"                    (21 bytes)
//! part    := 'P' u32be(header length) header chunk* u32be(0)
//! header  := JSON {"name": "db:orders", "kind": "database"|"globals",
//!                  "database": "orders"|null, "format": "custom"|"plain"}
//! chunk   := u32be(n > 0) n bytes                        (the part's dump, in order)
//! end     := 'E' u32be(trailer length) trailer, then end of stream
//! trailer := JSON {"parts": <number of parts>, "payload_bytes": <sum of all chunk bytes>}
//! ```
//!
//! A part's payload is exactly what `pg_dump` (or `pg_dumpall --globals-only`) wrote, so
//! without lifeboat a part can be cut out with a few lines of any language and fed to
//! `pg_restore` or `psql`. Anything after the trailer, a missing trailer, or counts that do not
//! match the trailer make the bundle invalid.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The first bytes of every bundle.
pub const BUNDLE_MAGIC: &[u8] = b"LIFEBOAT-PG-BUNDLE/1\n";

const TAG_PART: u8 = b'P';
const TAG_END: u8 = b'E';
/// Headers and trailers are small JSON documents.
const MAX_HEADER: u32 = 64 * 1024;
/// The writer never makes a chunk larger than this.
const MAX_CHUNK: usize = 1024 * 1024;

/// What a part holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartKind {
    /// One database's `pg_dump`.
    Database,
    /// `pg_dumpall --globals-only` (roles, tablespaces), a SQL script.
    Globals,
}

/// The header of a part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartHeader {
    /// A unique name: `db:<database>` or `globals`.
    pub name: String,
    /// What the part holds.
    pub kind: PartKind,
    /// The database a `database` part is a dump of.
    pub database: Option<String>,
    /// `custom` or `plain` (globals are always `plain`).
    pub format: String,
}

/// The trailer that ends a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// How many parts the bundle holds.
    pub parts: u64,
    /// The sum of all chunk bytes.
    pub payload_bytes: u64,
}

fn invalid(reason: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid pg_dump-bundle: {}", reason.into()),
    )
}

/// Writes a bundle into `out` (never shutting `out` down).
pub struct BundleWriter<'a, W: AsyncWrite + Unpin + ?Sized> {
    out: &'a mut W,
    parts: u64,
    payload_bytes: u64,
}

impl<'a, W: AsyncWrite + Unpin + ?Sized> BundleWriter<'a, W> {
    /// Starts a bundle: writes the magic line.
    pub async fn start(out: &'a mut W) -> io::Result<Self> {
        out.write_all(BUNDLE_MAGIC).await?;
        Ok(Self {
            out,
            parts: 0,
            payload_bytes: 0,
        })
    }

    /// Starts a part: writes its header and returns the writer of its payload, which must be
    /// [`PartWriter::finish`]ed before the next part.
    pub async fn part(&mut self, header: &PartHeader) -> io::Result<PartWriter<'_, W>> {
        let json = serde_json::to_vec(header).map_err(io::Error::other)?;
        write_record(self.out, TAG_PART, &json).await?;
        self.parts += 1;
        Ok(PartWriter {
            out: &mut *self.out,
            payload_bytes: &mut self.payload_bytes,
            header: [0; 4],
            header_pos: 4,
            remaining: 0,
        })
    }

    /// Writes the trailer. The bundle is complete.
    pub async fn finish(self) -> io::Result<Trailer> {
        let trailer = Trailer {
            parts: self.parts,
            payload_bytes: self.payload_bytes,
        };
        let json = serde_json::to_vec(&trailer).map_err(io::Error::other)?;
        write_record(self.out, TAG_END, &json).await?;
        self.out.flush().await?;
        Ok(trailer)
    }
}

async fn write_record<W: AsyncWrite + Unpin + ?Sized>(
    out: &mut W,
    tag: u8,
    json: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(json.len())
        .ok()
        .filter(|len| *len <= MAX_HEADER)
        .ok_or_else(|| io::Error::other("bundle header too large"))?;
    out.write_all(&[tag]).await?;
    out.write_all(&len.to_be_bytes()).await?;
    out.write_all(json).await
}

/// The payload writer of one part: every write becomes one or more length-prefixed chunks.
/// `shutdown` only flushes: the bundle goes on.
pub struct PartWriter<'a, W: AsyncWrite + Unpin + ?Sized> {
    out: &'a mut W,
    payload_bytes: &'a mut u64,
    header: [u8; 4],
    /// 4 when no chunk header is pending.
    header_pos: usize,
    /// Payload bytes the current chunk still expects.
    remaining: usize,
}

impl<W: AsyncWrite + Unpin + ?Sized> PartWriter<'_, W> {
    /// Ends the part (a zero-length chunk).
    pub async fn finish(self) -> io::Result<()> {
        if self.remaining > 0 || self.header_pos < 4 {
            return Err(io::Error::other(
                "a bundle chunk was left incomplete by its writer",
            ));
        }
        self.out.write_all(&0u32.to_be_bytes()).await
    }
}

impl<W: AsyncWrite + Unpin + ?Sized> AsyncWrite for PartWriter<'_, W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.remaining == 0 && this.header_pos >= 4 {
            // A new chunk of (at most) this buffer's length. Should the caller come back with
            // other bytes after a `Pending`, those fill the chunk just as well: it is declared
            // as the next `remaining` bytes of the stream.
            let len = buf.len().min(MAX_CHUNK);
            this.header = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
            this.header_pos = 0;
            this.remaining = len;
        }
        while this.header_pos < 4 {
            let n =
                ready!(Pin::new(&mut *this.out).poll_write(cx, &this.header[this.header_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.header_pos += n;
        }
        let take = this.remaining.min(buf.len());
        let n = ready!(Pin::new(&mut *this.out).poll_write(cx, &buf[..take]))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        this.remaining -= n;
        *this.payload_bytes += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().out).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().out).poll_flush(cx)
    }
}

/// Reads a bundle: [`BundleReader::next_part`] gives each part's header, then the reader itself
/// (an `AsyncRead`) yields that part's payload up to its end.
pub struct BundleReader<R: AsyncRead + Unpin> {
    inner: R,
    started: bool,
    part_open: bool,
    len_buf: [u8; 4],
    len_pos: usize,
    remaining: u64,
    parts: u64,
    payload_bytes: u64,
}

impl<R: AsyncRead + Unpin> BundleReader<R> {
    /// A reader of the bundle in `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            started: false,
            part_open: false,
            len_buf: [0; 4],
            len_pos: 0,
            remaining: 0,
            parts: 0,
            payload_bytes: 0,
        }
    }

    /// The next part's header, or `None` after a valid trailer at the very end of the stream.
    /// Skips whatever is left of the current part's payload.
    pub async fn next_part(&mut self) -> io::Result<Option<PartHeader>> {
        if !self.started {
            let mut magic = [0u8; BUNDLE_MAGIC.len()];
            read_exact_or_invalid(&mut self.inner, &mut magic, "missing magic line").await?;
            if magic != BUNDLE_MAGIC {
                return Err(invalid("wrong magic line"));
            }
            self.started = true;
        }
        if self.part_open {
            tokio::io::copy(self, &mut tokio::io::sink()).await?;
        }
        let mut tag = [0u8; 1];
        read_exact_or_invalid(&mut self.inner, &mut tag, "no trailer").await?;
        let json = read_record(&mut self.inner).await?;
        match tag[0] {
            TAG_PART => {
                let header: PartHeader = serde_json::from_slice(&json)
                    .map_err(|e| invalid(format!("bad part header: {e}")))?;
                self.part_open = true;
                self.parts += 1;
                Ok(Some(header))
            }
            TAG_END => {
                let trailer: Trailer = serde_json::from_slice(&json)
                    .map_err(|e| invalid(format!("bad trailer: {e}")))?;
                if trailer.parts != self.parts || trailer.payload_bytes != self.payload_bytes {
                    return Err(invalid(format!(
                        "the trailer counts {} parts and {} bytes, the stream held {} and {}",
                        trailer.parts, trailer.payload_bytes, self.parts, self.payload_bytes
                    )));
                }
                let mut extra = [0u8; 1];
                if self.inner.read(&mut extra).await? != 0 {
                    return Err(invalid("data after the trailer"));
                }
                Ok(None)
            }
            other => Err(invalid(format!("unknown record tag {other:#04x}"))),
        }
    }

    /// Parts read so far.
    pub fn parts(&self) -> u64 {
        self.parts
    }
}

async fn read_exact_or_invalid<R: AsyncRead + Unpin>(
    inner: &mut R,
    buf: &mut [u8],
    what: &str,
) -> io::Result<()> {
    match inner.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(invalid(format!("truncated ({what})")))
        }
        Err(e) => Err(e),
    }
}

async fn read_record<R: AsyncRead + Unpin>(inner: &mut R) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    read_exact_or_invalid(inner, &mut len, "record length").await?;
    let len = u32::from_be_bytes(len);
    if len > MAX_HEADER {
        return Err(invalid(format!("a header of {len} bytes")));
    }
    let mut json = vec![0u8; len as usize];
    read_exact_or_invalid(inner, &mut json, "record").await?;
    Ok(json)
}

impl<R: AsyncRead + Unpin> AsyncRead for BundleReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.part_open || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.remaining == 0 {
            while this.len_pos < 4 {
                let mut rb = ReadBuf::new(&mut this.len_buf[this.len_pos..]);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Err(invalid("truncated (chunk length)")));
                }
                this.len_pos += n;
            }
            this.len_pos = 0;
            let len = u32::from_be_bytes(this.len_buf);
            if len == 0 {
                this.part_open = false;
                return Poll::Ready(Ok(()));
            }
            this.remaining = u64::from(len);
        }
        let max = usize::try_from(this.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        let dst = buf.initialize_unfilled_to(max);
        let mut rb = ReadBuf::new(dst);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            return Poll::Ready(Err(invalid("truncated (chunk)")));
        }
        buf.advance(n);
        this.remaining -= n as u64;
        this.payload_bytes += n as u64;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(i: usize) -> PartHeader {
        PartHeader {
            name: format!("db:d{i}"),
            kind: if i == 0 {
                PartKind::Globals
            } else {
                PartKind::Database
            },
            database: (i > 0).then(|| format!("d{i}")),
            format: "custom".into(),
        }
    }

    async fn write_bundle(parts: &[Vec<u8>], write_size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = BundleWriter::start(&mut out).await.unwrap();
        for (i, payload) in parts.iter().enumerate() {
            let mut part = writer.part(&header(i)).await.unwrap();
            for piece in payload.chunks(write_size.max(1)) {
                part.write_all(piece).await.unwrap();
            }
            part.shutdown().await.unwrap();
            part.finish().await.unwrap();
        }
        writer.finish().await.unwrap();
        out
    }

    async fn read_bundle(data: &[u8], read_size: usize) -> io::Result<Vec<(PartHeader, Vec<u8>)>> {
        let mut reader = BundleReader::new(data);
        let mut parts = Vec::new();
        while let Some(header) = reader.next_part().await? {
            let mut payload = Vec::new();
            let mut buf = vec![0u8; read_size.max(1)];
            loop {
                let n = reader.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                payload.extend_from_slice(&buf[..n]);
            }
            parts.push((header, payload));
        }
        Ok(parts)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    proptest! {
        #[test]
        fn round_trips(
            parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..5),
            write_size in 1usize..700,
            read_size in 1usize..900,
        ) {
            rt().block_on(async {
                let data = write_bundle(&parts, write_size).await;
                let read = read_bundle(&data, read_size).await.unwrap();
                prop_assert_eq!(read.len(), parts.len());
                for (i, (h, payload)) in read.iter().enumerate() {
                    prop_assert_eq!(h, &header(i));
                    prop_assert_eq!(payload, &parts[i]);
                }
                Ok(())
            })?;
        }

        #[test]
        fn any_truncation_or_trailing_byte_is_an_error(
            parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..500), 1..4),
            cut in any::<prop::sample::Index>(),
            extra in any::<u8>(),
        ) {
            rt().block_on(async {
                let data = write_bundle(&parts, 97).await;
                let at = cut.index(data.len());
                let err = read_bundle(&data[..at], 64).await.unwrap_err();
                prop_assert_eq!(err.kind(), io::ErrorKind::InvalidData);
                let mut longer = data.clone();
                longer.push(extra);
                prop_assert!(read_bundle(&longer, 64).await.is_err());
                Ok(())
            })?;
        }

        #[test]
        fn skipping_a_part_unread_still_reads_the_next(
            parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..800), 2..4),
        ) {
            rt().block_on(async {
                let data = write_bundle(&parts, 50).await;
                let mut reader = BundleReader::new(&data[..]);
                let mut seen = 0;
                while let Some(h) = reader.next_part().await.unwrap() {
                    prop_assert_eq!(h, header(seen));
                    seen += 1;
                }
                prop_assert_eq!(seen, parts.len());
                Ok(())
            })?;
        }
    }

    #[test]
    fn rejects_wrong_magic_and_tags() {
        rt().block_on(async {
            assert!(read_bundle(b"PGDMP....", 10).await.is_err());
            let mut data = BUNDLE_MAGIC.to_vec();
            data.push(b'X');
            data.extend_from_slice(&2u32.to_be_bytes());
            data.extend_from_slice(b"{}");
            assert!(read_bundle(&data, 10).await.is_err());
        });
    }
}
