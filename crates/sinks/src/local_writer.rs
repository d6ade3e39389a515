//! [`LocalWriter`]: an upload to an fs storage, staged in `<root>/.lifeboat-tmp/` in a file
//! created 0600 (README.md, "What a backup is": files 0600), fsynced and renamed into place on
//! close. OpenDAL's own fs writer creates its temp file with the process's default mode
//! (typically 0644), which a reader of the temp folder could see.
//!
//! A failed write or close removes the temp file before returning; `abort` is idempotent and
//! a no-op after `close`; dropping a writer that was neither closed nor aborted removes its
//! temp file. Whatever happens, nothing partial ever appears under the key.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use backup_core::{SinkError, SinkWriter};
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::error::{refused, RequestError};
use crate::local_fs::FILE_MODE;

/// An upload in progress to an fs storage.
pub(crate) struct LocalWriter {
    key: String,
    /// The final path of the object.
    target: PathBuf,
    /// The temp file; `None` once closed or aborted.
    file: Option<tokio::fs::File>,
    /// Its path, kept until the rename is done (a close cut short by a deadline leaves it for
    /// `abort` or `drop` to remove).
    temp: Option<PathBuf>,
}

impl LocalWriter {
    /// Creates a fresh 0600 temp file in `tmp_dir` for an upload of `key` to `target`.
    pub(crate) async fn create(tmp_dir: &Path, target: PathBuf, key: &str) -> io::Result<Self> {
        let path = tmp_dir.join(temp_name());
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(FILE_MODE);
        let file = options.open(&path).await?;
        Ok(Self {
            key: key.to_owned(),
            target,
            file: Some(file),
            temp: Some(path),
        })
    }

    /// Closes the file and removes the temp file of an upload that will not complete.
    async fn discard(&mut self) {
        self.file = None;
        if let Some(path) = self.temp.take() {
            if let Err(err) = tokio::fs::remove_file(&path).await {
                if err.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(key = %self.key, error = %err,
                        "removing the temp file of an upload failed");
                }
            }
        }
    }
}

/// A temp name no other upload uses: the process, a counter and the clock.
fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "upload-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Flushes, fsyncs and renames the temp file into place, then fsyncs the folder so the rename
/// survives a crash before the manifest's does (ARCHITECTURE.md, invariant 1).
async fn commit(mut file: tokio::fs::File, temp: &Path, target: &Path) -> io::Result<()> {
    file.flush().await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(temp, target).await?;
    if let Some(dir) = target.parent() {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
            .await
            .map_err(io::Error::other)??;
    }
    Ok(())
}

#[async_trait]
impl SinkWriter for LocalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError> {
        let Some(file) = self.file.as_mut() else {
            return Err(refused("write", &self.key, RequestError::WriterFinished));
        };
        if let Err(err) = file.write_all(&chunk).await {
            self.discard().await;
            return Err(SinkError::backend("write", &self.key, err));
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        let (Some(file), Some(path)) = (self.file.take(), self.temp.clone()) else {
            return Err(refused("close", &self.key, RequestError::WriterFinished));
        };
        if let Err(err) = commit(file, &path, &self.target).await {
            self.discard().await;
            return Err(SinkError::backend("close", &self.key, err));
        }
        self.temp = None;
        Ok(())
    }

    async fn abort(&mut self) -> Result<(), SinkError> {
        self.discard().await;
        Ok(())
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        self.file = None;
        if let Some(path) = self.temp.take() {
            // One unlink of our own temp file: quick enough to do in place.
            if let Err(err) = std::fs::remove_file(&path) {
                if err.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(key = %self.key, error = %err, "removing a dropped upload failed");
                }
            }
        }
    }
}
