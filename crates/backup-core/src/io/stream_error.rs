//! [`StreamError`]: how a stage tells the pipeline *why* a stream failed, through `io::Error`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The reason a restore stream failed, carried inside an `io::Error` from the stage that saw it
/// up to the pipeline, which maps it to an exit code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    /// The artifact is not what the manifest describes (checksum, size, corrupt frame).
    #[error("{0}")]
    Integrity(String),
    /// Reading from storage failed (network, permissions): the artifact may be fine.
    #[error("reading from storage failed: {0}")]
    Storage(String),
}

impl StreamError {
    /// Wraps this reason in an `io::Error`.
    pub fn into_io(self) -> io::Error {
        let kind = match self {
            StreamError::Integrity(_) => io::ErrorKind::InvalidData,
            StreamError::Storage(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }

    /// Finds the reason inside an `io::Error`, if a stage put one there.
    pub fn from_io(err: &io::Error) -> Option<&StreamError> {
        err.get_ref().and_then(|inner| inner.downcast_ref())
    }
}

/// Marks every error of the wrapped stage that is not already a [`StreamError`] as an
/// integrity failure of `stage` (a decoder or decryptor only fails on bad input).
pub struct MapErrReader<R> {
    inner: R,
    stage: &'static str,
}

impl<R> MapErrReader<R> {
    /// Wraps `inner`, naming it `stage` in errors (e.g. `"zstd decompression"`).
    pub fn new(inner: R, stage: &'static str) -> Self {
        Self { inner, stage }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for MapErrReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stage = self.stage;
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Err(err)) if StreamError::from_io(&err).is_none() => Poll::Ready(Err(
                StreamError::Integrity(format!("{stage} failed: {err}")).into_io(),
            )),
            other => other,
        }
    }
}
