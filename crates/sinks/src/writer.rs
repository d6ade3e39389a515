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

use std::sync::Arc;

use async_trait::async_trait;
use backup_core::{SinkError, SinkWriter};
use bytes::Bytes;

use crate::config::Secret;
use crate::error::{refused, RequestError};
use crate::opendal_sink::service_error;

/// An upload in progress to an object store (fs uploads are `LocalWriter`s).
pub(crate) struct OpendalWriter {
    key: String,
    /// `None` once closed or aborted.
    inner: Option<opendal::Writer>,
    /// The storage's credentials, kept out of errors.
    secrets: Arc<Vec<Secret>>,
}

impl OpendalWriter {
    pub(crate) fn new(key: &str, inner: opendal::Writer, secrets: Arc<Vec<Secret>>) -> Self {
        Self {
            key: key.to_owned(),
            inner: Some(inner),
            secrets,
        }
    }

    fn failed(&self, op: &'static str, err: opendal::Error) -> SinkError {
        SinkError::backend(op, &self.key, service_error(&self.secrets, err))
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
            return Err(self.failed("write", err));
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        let Some(mut writer) = self.inner.take() else {
            return Err(refused("close", &self.key, RequestError::WriterFinished));
        };
        if let Err(err) = writer.close().await {
            abort_after_failure(&mut writer, &self.key, "close").await;
            return Err(self.failed("close", err));
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
            .map_err(|err| self.failed("abort", err))
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
