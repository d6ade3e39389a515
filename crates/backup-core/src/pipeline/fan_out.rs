//! The storage end of a backup: every chunk goes to every storage still healthy (3-2-1 without
//! reading the source twice). A storage that fails is aborted and dropped; the others go on.

use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::mpsc;

use crate::{SinkError, SinkWriter};

/// One storage's upload.
pub(crate) struct Upload {
    pub storage: String,
    pub writer: Box<dyn SinkWriter>,
    pub error: Option<SinkError>,
}

impl Upload {
    async fn fail(&mut self, error: SinkError) {
        // The write error is the one worth reporting; abort is best effort.
        if let Err(abort_error) = self.writer.abort().await {
            tracing::warn!(storage = %self.storage, %abort_error, "aborting a failed upload failed");
        }
        self.error = Some(error);
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
            .map(|upload| {
                let chunk = chunk.clone();
                async move {
                    if let Err(error) = upload.writer.write(chunk).await {
                        upload.fail(error).await;
                    }
                }
            });
        join_all(writes).await;
        if uploads.iter().all(|u| u.error.is_some()) {
            break;
        }
    }
    uploads
}

/// Closes every healthy upload (concurrently); a close that fails marks the upload failed.
pub(crate) async fn close_all(uploads: &mut [Upload]) {
    let closes = uploads
        .iter_mut()
        .filter(|u| u.error.is_none())
        .map(|upload| async move {
            if let Err(error) = upload.writer.close().await {
                upload.fail(error).await;
            }
        });
    join_all(closes).await;
}

/// Aborts every upload still open (the backup failed: no object may look complete).
pub(crate) async fn abort_all(uploads: &mut [Upload]) {
    let aborts = uploads.iter_mut().filter(|u| u.error.is_none()).map(|upload| async move {
        if let Err(abort_error) = upload.writer.abort().await {
            tracing::warn!(storage = %upload.storage, %abort_error, "aborting an upload failed");
        }
    });
    join_all(aborts).await;
}
