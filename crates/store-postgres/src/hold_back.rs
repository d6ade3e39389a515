//! [`HoldBack`]: a writer that hands each write on only once the next one (or the flush at
//! the end of the stream) arrives, so the last bytes reach a restore tool only after the
//! stream has reached EOF.
//!
//! Why: the pipeline reports a checksum or decryption failure as a read error where EOF
//! would be, and `pg_restore` needs no EOF to finish a custom archive (it commits once it has
//! read the last data block). Holding the last chunk back until the stream's end means the
//! tool can never commit a stream that then turns out to be bad.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::AsyncWrite;

/// Holds at most this much of the latest write.
const HELD_MAX: usize = lifeboat_edge::copy::COPY_BUFFER;

/// Delays every write by one: `write(b)` first passes on the bytes held from the previous
/// write, then keeps (up to [`HELD_MAX`] of) `b`. `flush` and `shutdown` pass on what is held
/// — call them only at the end of the stream. Dropping it without a flush discards the held
/// bytes, which is what a failed stream wants.
pub(crate) struct HoldBack<W> {
    inner: W,
    held: Vec<u8>,
    /// How much of `held` the inner writer has taken.
    passed: usize,
}

impl<W: AsyncWrite + Unpin> HoldBack<W> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            held: Vec::with_capacity(HELD_MAX),
            passed: 0,
        }
    }

    /// The inner writer, dropping what is held.
    pub(crate) fn into_inner(self) -> W {
        self.inner
    }

    fn poll_pass_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.passed < self.held.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.held[self.passed..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.passed += n;
        }
        self.held.clear();
        self.passed = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for HoldBack<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(this.poll_pass_held(cx))?;
        let take = buf.len().min(HELD_MAX);
        this.held.extend_from_slice(&buf[..take]);
        Poll::Ready(Ok(take))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pass_held(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pass_held(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn the_last_write_arrives_only_with_the_flush() {
        let mut out = HoldBack::new(Vec::new());
        out.write_all(b"first ").await.unwrap();
        assert_eq!(out.inner, b"");
        out.write_all(b"second").await.unwrap();
        assert_eq!(out.inner, b"first ");
        out.flush().await.unwrap();
        assert_eq!(out.into_inner(), b"first second");
    }

    #[tokio::test]
    async fn without_a_flush_the_held_bytes_never_arrive() {
        let mut out = HoldBack::new(Vec::new());
        out.write_all(&vec![7u8; 3 * HELD_MAX + 5]).await.unwrap();
        let inner = out.into_inner();
        assert_eq!(inner.len(), 3 * HELD_MAX);
    }

    proptest::proptest! {
        #[test]
        fn everything_arrives_in_order_after_the_flush(
            writes in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..20),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let out = rt.block_on(async {
                let mut out = HoldBack::new(Vec::new());
                for w in &writes {
                    out.write_all(w).await.unwrap();
                }
                out.flush().await.unwrap();
                out.into_inner()
            });
            proptest::prop_assert_eq!(out, writes.concat());
        }
    }
}
