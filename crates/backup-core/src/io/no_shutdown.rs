//! [`NoShutdown`]: the writer handed to a [`Source`](crate::Source). The pipeline finishes the
//! chain itself once the source returns `Ok`; a source that shuts its writer down early would
//! otherwise finish the zstd frame and the age stream before the pipeline knows whether the
//! dump succeeded.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

/// Forwards writes and flushes; turns `shutdown` into a flush.
pub struct NoShutdown<'a, W: ?Sized>(pub &'a mut W);

impl<W: AsyncWrite + Unpin + ?Sized> AsyncWrite for NoShutdown<'_, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
}
