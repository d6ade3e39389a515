//! [`EndGate`]: the top of the restore chain. It only lets EOF through once the *bottom* of the
//! chain (the stored object, under its [`HashReader`](super::HashReader)) has been read to its
//! end and checked, and it remembers the first stream failure so the pipeline can tell a bad
//! artifact from a failing target.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::StreamError;

/// The first failure a stream reported, shared with the pipeline.
#[derive(Debug, Clone, Default)]
pub struct FailureSlot(Arc<Mutex<Option<StreamError>>>);

impl FailureSlot {
    /// The first failure, if any.
    pub fn get(&self) -> Option<StreamError> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }

    fn record(&self, err: &io::Error) {
        let reason = match StreamError::from_io(err) {
            Some(reason) => reason.clone(),
            None => StreamError::Storage(err.to_string()),
        };
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(reason);
        }
    }
}

enum State {
    Streaming,
    Draining,
    Done,
}

/// Wraps the top of the chain; `bottom` is a second handle to the chain's lowest reader.
pub struct EndGate<R, B> {
    inner: R,
    bottom: B,
    state: State,
    failure: FailureSlot,
}

impl<R, B> EndGate<R, B> {
    /// Builds the gate.
    pub fn new(inner: R, bottom: B) -> Self {
        Self {
            inner,
            bottom,
            state: State::Streaming,
            failure: FailureSlot::default(),
        }
    }

    /// Whether EOF was reached and both ends were checked.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The slot holding the first failure seen.
    pub fn failure(&self) -> FailureSlot {
        self.failure.clone()
    }
}

impl<R: AsyncRead + Unpin, B: AsyncRead + Unpin> AsyncRead for EndGate<R, B> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(failure) = this.failure.get() {
            // A failed stream stays failed: never a clean EOF after an error.
            return Poll::Ready(Err(failure.into_io()));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match this.state {
                State::Streaming => {
                    let before = buf.filled().len();
                    if let Err(err) = ready!(Pin::new(&mut this.inner).poll_read(cx, buf)) {
                        this.failure.record(&err);
                        return Poll::Ready(Err(err));
                    }
                    if buf.filled().len() > before {
                        return Poll::Ready(Ok(()));
                    }
                    this.state = State::Draining;
                }
                State::Draining => {
                    // The decoders above may stop at the end of their frame: read the stored
                    // object to its very end so its checksum is checked before we say EOF.
                    let mut scratch = [0u8; 4096];
                    let mut scratch = ReadBuf::new(&mut scratch);
                    if let Err(err) = ready!(Pin::new(&mut this.bottom).poll_read(cx, &mut scratch))
                    {
                        this.failure.record(&err);
                        return Poll::Ready(Err(err));
                    }
                    if !scratch.filled().is_empty() {
                        let err = StreamError::Integrity(
                            "trailing data after the end of the compressed/encrypted stream"
                                .to_string(),
                        )
                        .into_io();
                        this.failure.record(&err);
                        return Poll::Ready(Err(err));
                    }
                    this.state = State::Done;
                }
                State::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}
