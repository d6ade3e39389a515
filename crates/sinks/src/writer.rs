//! [`SinkWriter`] over an OpenDAL [`opendal::Writer`]: a failed upload never leaves anything
//! that looks complete.
//!
//! - A failed `write` or `close` aborts the upload before returning the error (the S3
//!   multipart upload is aborted, the fs temp file removed).
//! - `abort` is idempotent, and a no-op after `close`.
//! - Dropping a writer that was neither closed nor aborted starts the abort on the current tokio
//!   runtime. Even when that cannot run (no runtime, runtime shutting down), the object never
//!   appears under its key: an fs upload stays in the hidden temp folder and an S3 multipart
//!   upload stays incomplete (invisible; a bucket lifecycle rule for incomplete multipart
//!   uploads reclaims its space).

use std::path::PathBuf;

use async_trait::async_trait;
use backup_core::{SinkError, SinkWriter};
use bytes::Bytes;

use crate::error::{refused, RequestError};
use crate::local_fs::make_file_private;

/// An upload in progress to an OpenDAL backend.
pub(crate) struct OpendalWriter {
    key: String,
    /// `None` once closed or aborted.
    inner: Option<opendal::Writer>,
    /// For fs: the final path of the object, made 0600 after close.
    private_file: Option<PathBuf>,
}

impl OpendalWriter {
    pub(crate) fn new(key: &str, inner: opendal::Writer, private_file: Option<PathBuf>) -> Self {
        Self {
            key: key.to_owned(),
            inner: Some(inner),
            private_file,
        }
    }
}

/// Aborts after a failure; the failure is the error worth reporting, so an abort error is only
/// logged.
async fn abort_after_failure(writer: &mut opendal::Writer, key: &str, op: &str) {
    if let Err(err) = writer.abort().await {
        tracing::warn!(key, op, error = %err, "aborting the failed upload failed too");
    }
}

#[async_trait]
impl SinkWriter for OpendalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError> {
        let Some(writer) = self.inner.as_mut() else {
            return Err(refused("write", &self.key, RequestError::WriterFinished));
        };
        if let Err(err) = writer.write(chunk).await {
            if let Some(mut writer) = self.inner.take() {
                abort_after_failure(&mut writer, &self.key, "write").await;
            }
            return Err(SinkError::backend("write", &self.key, err));
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        let Some(mut writer) = self.inner.take() else {
            return Err(refused("close", &self.key, RequestError::WriterFinished));
        };
        if let Err(err) = writer.close().await {
            abort_after_failure(&mut writer, &self.key, "close").await;
            return Err(SinkError::backend("close", &self.key, err));
        }
        if let Some(path) = &self.private_file {
            if let Err(err) = make_file_private(path).await {
                // A file that is not 0600 must not stay under its key as if it were complete.
                if let Err(rm_err) = tokio::fs::remove_file(path).await {
                    tracing::warn!(key = %self.key, error = %rm_err, "removing the object failed");
                }
                return Err(SinkError::backend("close", &self.key, err));
            }
        }
        Ok(())
    }

    async fn abort(&mut self) -> Result<(), SinkError> {
        let Some(mut writer) = self.inner.take() else {
            return Ok(());
        };
        writer
            .abort()
            .await
            .map_err(|err| SinkError::backend("abort", &self.key, err))
    }
}

impl Drop for OpendalWriter {
    fn drop(&mut self) {
        let Some(mut writer) = self.inner.take() else {
            return;
        };
        let key = std::mem::take(&mut self.key);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                tracing::debug!(key, "upload dropped without close or abort: aborting it");
                runtime.spawn(async move {
                    if let Err(err) = writer.abort().await {
                        tracing::warn!(key, error = %err, "aborting a dropped upload failed");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(
                    key,
                    "upload dropped outside a tokio runtime: its partial data stays hidden"
                );
            }
        }
    }
}
