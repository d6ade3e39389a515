//! The storage end of a backup: every chunk goes to every storage still healthy (3-2-1 without
//! reading the source twice). A storage that fails, or does not answer within its
//! [`Deadlines`], is aborted (the abort bounded too) and dropped; the others go on
//! (ARCHITECTURE.md, invariant 7).

use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::mpsc;

use crate::sink::within;
use crate::{Deadlines, SinkError, SinkWriter};

/// One storage's upload.
pub(crate) struct Upload {
    pub storage: String,
    /// The key being uploaded (for errors).
    pub key: String,
    pub writer: Box<dyn SinkWriter>,
    /// How long a call of this storage may take.
    pub deadlines: Deadlines,
    pub error: Option<SinkError>,
}

impl Upload {
    /// Aborts the upload (within its abort deadline) and records `error`.
    async fn fail(&mut self, error: SinkError) {
        // The write error is the one worth reporting; abort is best effort.
        self.abort().await;
        self.error = Some(error);
    }

    /// Aborts the upload within its abort deadline; a failure or a timeout only warns (a
    /// writer that is dropped unfinished never leaves an object under its key).
    async fn abort(&mut self) {
        let deadline = self.deadlines.abort;
        if let Err(abort_error) = within(deadline, "abort", &self.key, self.writer.abort()).await {
            tracing::warn!(storage = %self.storage, %abort_error, "aborting an upload failed");
        }
    }

    /// Writes `chunk` within the call deadline; on failure the upload is aborted.
    async fn write(&mut self, chunk: Bytes) {
        let deadline = self.deadlines.call;
        if let Err(error) = within(deadline, "write", &self.key, self.writer.write(chunk)).await {
            self.fail(error).await;
        }
    }

    /// Closes the upload within the call deadline; on failure the upload is aborted.
    async fn close(&mut self) {
        let deadline = self.deadlines.call;
        if let Err(error) = within(deadline, "close", &self.key, self.writer.close()).await {
            self.fail(error).await;
        }
    }
}

/// Feeds every chunk from `chunks` to every healthy upload, concurrently across storages. Stops
/// reading (so the writer above sees a broken pipe) once no upload is healthy. Returns the
/// uploads, neither closed nor aborted unless they failed: the caller decides.
pub(crate) async fn fan_out(
    mut chunks: mpsc::Receiver<Bytes>,
    mut uploads: Vec<Upload>,
) -> Vec<Upload> {
    while let Some(chunk) = chunks.recv().await {
        let writes = uploads
            .iter_mut()
            .filter(|u| u.error.is_none())
            .map(|upload| upload.write(chunk.clone()));
        join_all(writes).await;
        if uploads.iter().all(|u| u.error.is_some()) {
            break;
        }
    }
    uploads
}

/// Closes every healthy upload (concurrently); a close that fails or times out marks the
/// upload failed.
pub(crate) async fn close_all(uploads: &mut [Upload]) {
    let closes = uploads
        .iter_mut()
        .filter(|u| u.error.is_none())
        .map(Upload::close);
    join_all(closes).await;
}

/// Aborts every upload still open (the backup failed: no object may look complete).
pub(crate) async fn abort_all(uploads: &mut [Upload]) {
    let aborts = uploads
        .iter_mut()
        .filter(|u| u.error.is_none())
        .map(Upload::abort);
    join_all(aborts).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;

    /// A writer that never answers `write`, `close` or `abort` when `hang` is set.
    struct Writer {
        hang: bool,
        written: usize,
        closed: Arc<AtomicBool>,
    }

    #[async_trait]
    impl SinkWriter for Writer {
        async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError> {
            if self.hang {
                std::future::pending::<()>().await;
            }
            self.written += chunk.len();
            Ok(())
        }

        async fn close(&mut self) -> Result<(), SinkError> {
            if self.hang {
                std::future::pending::<()>().await;
            }
            self.closed.store(true, Ordering::SeqCst);
            Ok(())
        }

        async fn abort(&mut self) -> Result<(), SinkError> {
            if self.hang {
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    }

    fn upload(storage: &str, hang: bool, closed: &Arc<AtomicBool>) -> Upload {
        Upload {
            storage: storage.to_owned(),
            key: "app/x/data".to_owned(),
            writer: Box::new(Writer {
                hang,
                written: 0,
                closed: Arc::clone(closed),
            }),
            deadlines: Deadlines {
                call: Duration::from_secs(30),
                abort: Duration::from_secs(5),
            },
            error: None,
        }
    }

    /// A storage whose writes never return is dropped after its call and abort deadlines, and
    /// the healthy one gets every chunk and its close (time is paused: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn a_storage_that_never_answers_is_dropped_and_the_others_go_on() {
        let (hung_closed, ok_closed) = (Arc::default(), Arc::default());
        let uploads = vec![
            upload("hung", true, &hung_closed),
            upload("ok", false, &ok_closed),
        ];
        let (tx, rx) = mpsc::channel(4);
        let started = tokio::time::Instant::now();
        let fan = tokio::spawn(fan_out(rx, uploads));
        for _ in 0..3 {
            tx.send(Bytes::from_static(b"chunk")).await.unwrap();
        }
        drop(tx);
        let mut uploads = fan.await.unwrap();
        // One write timed out (30 s), then its abort (5 s); nothing waited on it after that.
        assert!(
            started.elapsed() <= Duration::from_secs(36),
            "{:?}",
            started.elapsed()
        );
        close_all(&mut uploads).await;
        let error = uploads[0].error.as_ref().unwrap();
        let SinkError::Backend { op, source, .. } = error else {
            panic!("{error:?}");
        };
        assert_eq!(*op, "write");
        assert!(
            source.downcast_ref::<crate::DeadlineExceeded>().is_some(),
            "{source}"
        );
        assert!(uploads[1].error.is_none());
        assert!(ok_closed.load(Ordering::SeqCst));
        assert!(!hung_closed.load(Ordering::SeqCst));
    }

    /// A close that never returns is a failure of that storage, bounded by its deadlines.
    #[tokio::test(start_paused = true)]
    async fn a_close_that_never_returns_fails_that_storage() {
        let closed = Arc::default();
        let mut uploads = vec![upload("hung", true, &closed)];
        let started = tokio::time::Instant::now();
        close_all(&mut uploads).await;
        assert!(started.elapsed() <= Duration::from_secs(36));
        let Some(SinkError::Backend { op, .. }) = &uploads[0].error else {
            panic!("{:?}", uploads[0].error);
        };
        assert_eq!(*op, "close");
    }

    /// Aborting a storage that never answers ends at the abort deadline.
    #[tokio::test(start_paused = true)]
    async fn an_abort_that_never_returns_is_bounded() {
        let closed = Arc::default();
        let mut uploads = vec![upload("hung", true, &closed)];
        let started = tokio::time::Instant::now();
        abort_all(&mut uploads).await;
        assert!(started.elapsed() <= Duration::from_secs(6));
    }
}
