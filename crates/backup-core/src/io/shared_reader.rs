//! [`SharedReader`]: one reader polled from two places (the chain, and the [`EndGate`] that
//! drains it to EOF).
//!
//! [`EndGate`]: super::EndGate

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// A cloneable handle to a reader. Both handles are polled from the same task, one after the
/// other, so the lock is never contended; it only satisfies the borrow checker.
pub struct SharedReader<R>(Arc<Mutex<R>>);

impl<R> SharedReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self(Arc::new(Mutex::new(inner)))
    }
}

impl<R> Clone for SharedReader<R> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for SharedReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut guard = self
            .0
            .lock()
            .map_err(|_| io::Error::other("a reader stage panicked"))?;
        Pin::new(&mut *guard).poll_read(cx, buf)
    }
}
