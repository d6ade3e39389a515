//! sha256 stages: [`HashWriter`] on the backup path, [`HashReader`] (which also *checks*) on the
//! restore path.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Progress, StreamError};

/// Byte count and hex sha256 of a finished stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// Bytes that went through.
    pub bytes: u64,
    /// Hex sha256 of them.
    pub sha256: String,
}

/// Where a hashing stage leaves its [`Digest`] once the stream is finished.
#[derive(Debug, Clone, Default)]
pub struct DigestSlot(Arc<Mutex<Option<Digest>>>);

impl DigestSlot {
    /// The digest, once the stream finished.
    pub fn get(&self) -> Option<Digest> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }

    fn set(&self, digest: Digest) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(digest);
        }
    }
}

struct Hashing {
    hasher: Sha256,
    bytes: u64,
    slot: DigestSlot,
    progress: Option<Arc<dyn Progress>>,
}

impl Hashing {
    fn new(progress: Option<Arc<dyn Progress>>) -> Self {
        Self {
            hasher: Sha256::new(),
            bytes: 0,
            slot: DigestSlot::default(),
            progress,
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        if let Some(progress) = &self.progress {
            progress.advance(data.len() as u64);
        }
    }

    /// Finalizes once; later calls return the same digest.
    fn finish(&mut self) -> Digest {
        if let Some(done) = self.slot.get() {
            return done;
        }
        let digest = Digest {
            bytes: self.bytes,
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
        };
        self.slot.set(digest.clone());
        digest
    }
}

/// Hashes and counts everything written through it; the digest is ready after `shutdown`.
pub struct HashWriter<W> {
    inner: W,
    hashing: Hashing,
}

impl<W> HashWriter<W> {
    /// Wraps `inner`; `progress` (optional) is told about every byte.
    pub fn new(inner: W, progress: Option<Arc<dyn Progress>>) -> Self {
        Self {
            inner,
            hashing: Hashing::new(progress),
        }
    }

    /// Where the digest appears once the writer is shut down.
    pub fn slot(&self) -> DigestSlot {
        self.hashing.slot.clone()
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for HashWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.hashing.update(&buf[..written]);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
        self.hashing.finish();
        Poll::Ready(Ok(()))
    }
}

/// What a [`HashReader`] expects to see: the manifest's size and sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Which stream this is, for messages: `"stored"` or `"raw"`.
    pub label: &'static str,
    /// Expected byte count.
    pub bytes: u64,
    /// Expected hex sha256.
    pub sha256: String,
}

/// Hashes and counts what is read through it and, at EOF, compares with [`Expected`]: a
/// mismatch is returned as a read error ([`StreamError::Integrity`]) *instead of* EOF, so the
/// reader above never sees a clean end of a bad stream. More bytes than expected fail at once.
pub struct HashReader<R> {
    inner: R,
    hashing: Hashing,
    expected: Expected,
    finished: bool,
    storage_errors: bool,
    /// The first failure, returned again on every later read: a failed stream never turns
    /// into a clean EOF.
    failed: Option<StreamError>,
}

impl<R> HashReader<R> {
    /// Wraps `inner`, checking it against `expected`.
    pub fn new(inner: R, expected: Expected, progress: Option<Arc<dyn Progress>>) -> Self {
        Self {
            inner,
            hashing: Hashing::new(progress),
            expected,
            finished: false,
            storage_errors: false,
            failed: None,
        }
    }

    /// Marks errors of `inner` as storage failures ([`StreamError::Storage`]): use it on the
    /// reader that wraps the storage object itself.
    pub fn over_storage(mut self) -> Self {
        self.storage_errors = true;
        self
    }

    /// Where the digest appears once EOF was reached and checked.
    pub fn slot(&self) -> DigestSlot {
        self.hashing.slot.clone()
    }

    fn check_end(&mut self) -> Result<(), StreamError> {
        let digest = self.hashing.finish();
        let expected = &self.expected;
        if digest.bytes != expected.bytes {
            return Err(StreamError::Integrity(format!(
                "{} stream ended after {} bytes, the manifest says {} (truncated or replaced)",
                expected.label, digest.bytes, expected.bytes
            )));
        }
        if digest.sha256 != expected.sha256 {
            return Err(StreamError::Integrity(format!(
                "{} sha256 is {}, the manifest says {} (the artifact was altered or replaced)",
                expected.label, digest.sha256, expected.sha256
            )));
        }
        Ok(())
    }

    /// Remembers `reason` as this stream's failure and returns it as an `io::Error`.
    fn fail(&mut self, reason: StreamError) -> io::Error {
        self.failed = Some(reason.clone());
        reason.into_io()
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for HashReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(failed) = &this.failed {
            return Poll::Ready(Err(failed.clone().into_io()));
        }
        if this.finished {
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() == 0 {
            // A zero-length read says nothing about the end of the stream.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        if let Err(err) = ready!(Pin::new(&mut this.inner).poll_read(cx, buf)) {
            let reason = match StreamError::from_io(&err) {
                Some(reason) => Some(reason.clone()),
                None if this.storage_errors => Some(StreamError::Storage(err.to_string())),
                None => None,
            };
            return Poll::Ready(Err(match reason {
                Some(reason) => this.fail(reason),
                None => err,
            }));
        }
        let fresh = &buf.filled()[before..];
        if fresh.is_empty() {
            this.finished = true;
            return Poll::Ready(this.check_end().map_err(|reason| this.fail(reason)));
        }
        this.hashing.update(fresh);
        if this.hashing.bytes > this.expected.bytes {
            let reason = StreamError::Integrity(format!(
                "{} stream is longer than the {} bytes the manifest says",
                this.expected.label, this.expected.bytes
            ));
            return Poll::Ready(Err(this.fail(reason)));
        }
        Poll::Ready(Ok(()))
    }
}
