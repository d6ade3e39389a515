//! [`SqliteCheck`]: the format check `lifeboat verify` runs on a `sqlite-db` stream.

use std::path::PathBuf;

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use tokio::io::AsyncRead;

use crate::error::{SqliteError, Step};
use crate::files::{private_temp_dir, remove_temp_dir};
use crate::metadata::SqliteMetadata;
use crate::verify::{stage_stream, verify_file};

/// Checks that a stream is a sound SQLite database matching its manifest: header magic,
/// `PRAGMA integrity_check`, size and every table's row count.
///
/// SQLite can only check a *file*, so the stream is written to a private temporary directory
/// (mode 0700 on Unix) and removed afterwards on every path; it needs as much free space there
/// as the database's size.
#[derive(Debug, Clone, Default)]
pub struct SqliteCheck {
    temp_dir: Option<PathBuf>,
}

impl SqliteCheck {
    /// A check that stages the stream under the system temporary directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stages the stream under `dir` instead of the system temporary directory.
    pub fn with_temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }

    async fn check_inner(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, SqliteError> {
        let expected = SqliteMetadata::of(manifest)?;
        let dir = private_temp_dir(self.temp_dir.as_deref())?;
        let path = dir.path().join("verify.db");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .map_err(|err| SqliteError::io(Step::Stage, &path, err))?;
        let bytes = stage_stream(input, &mut tokio::fs::File::from_std(file), &path).await?;

        // The task owns the directory while SQLite reads from it.
        let (dir, verified) = tokio::task::spawn_blocking(move || {
            let verified = verify_file(&path, expected.as_ref());
            (dir, verified)
        })
        .await
        .map_err(|source| SqliteError::Task {
            step: Step::Integrity,
            source,
        })?;
        remove_temp_dir(dir);
        let verified = verified?;

        let summary = if verified.counts_checked {
            format!(
                "sqlite-db: integrity_check ok, {} match the manifest",
                verified.tables_text()
            )
        } else {
            format!(
                "sqlite-db: integrity_check ok, {} (the manifest has no row counts to compare)",
                verified.tables_text()
            )
        };
        let mut details = verified.details();
        if let Some(object) = details.as_object_mut() {
            object.insert("bytes".into(), bytes.into());
        }
        Ok(Report { summary, details })
    }
}

#[async_trait]
impl FormatCheck for SqliteCheck {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    async fn check(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, StoreError> {
        Ok(self.check_inner(input, manifest).await?)
    }
}
