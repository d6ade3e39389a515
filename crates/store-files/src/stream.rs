//! The async side of the bridges between the pipeline's async streams and the sync `tar` code
//! running in a blocking task: a bounded `tokio::io::duplex` pipe in between, and copies
//! ([`lifeboat_edge::copy::copy`]) that say which side failed.

use lifeboat_edge::copy::{copy, CopyError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::task::JoinError;

use crate::FilesError;

/// Capacity of the duplex pipe and size of the blocking side's buffers: memory stays bounded
/// by a few of these (and [`lifeboat_edge::copy::COPY_BUFFER`]) whatever the size of the tree.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Copies everything the blocking writer produces into `out`, then flushes `out` (it is never
/// shut down: the pipeline finishes it). The pipe's read half is dropped on return, so a
/// blocking writer still running gets a broken pipe instead of waiting forever.
pub(crate) async fn drain_into<W>(mut pipe: DuplexStream, out: &mut W) -> Result<u64, CopyError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    copy(&mut pipe, out).await
}

/// Copies `input` to its EOF into the pipe, then closes the pipe so the blocking reader sees
/// EOF. The pipe's write half is dropped on return in every case.
pub(crate) async fn feed<R>(input: &mut R, mut pipe: DuplexStream) -> Result<u64, CopyError>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let total = copy(input, &mut pipe).await?;
    pipe.shutdown().await.map_err(CopyError::Write)?;
    Ok(total)
}

/// Flattens a blocking task's outcome.
pub(crate) fn joined<T>(
    task: &'static str,
    outcome: Result<Result<T, FilesError>, JoinError>,
) -> Result<T, FilesError> {
    outcome.map_err(|source| FilesError::Task { task, source })?
}

/// Combines the outcome of [`feed`] and of the blocking reader it fed.
///
/// A failure to *read* the input comes first: it is the cause (a checksum mismatch, a failed
/// decryption, storage going away), and whatever the blocking side then saw (a truncated
/// archive) is its consequence. Then the blocking side's own error. A failure to write into the
/// pipe only means the blocking side stopped early, which its own result explains.
pub(crate) fn settle_reader<T>(
    fed: Result<u64, CopyError>,
    task: &'static str,
    outcome: Result<Result<T, FilesError>, JoinError>,
) -> Result<T, FilesError> {
    if let Err(CopyError::Read(source)) = fed {
        return Err(FilesError::ReadInput { source });
    }
    let value = joined(task, outcome)?;
    match fed {
        Ok(_) => Ok(value),
        Err(CopyError::Read(source)) => Err(FilesError::ReadInput { source }),
        Err(CopyError::Write(source)) => Err(FilesError::StoppedEarly { task, source }),
    }
}

/// Combines the outcome of [`drain_into`] and of the blocking writer that fed it.
///
/// A failure to write `out` comes first (the blocking writer then fails with a broken pipe);
/// then the blocking side's own error.
pub(crate) fn settle_writer<T>(
    drained: Result<u64, CopyError>,
    task: &'static str,
    outcome: Result<Result<T, FilesError>, JoinError>,
) -> Result<T, FilesError> {
    if let Err(CopyError::Write(source)) = drained {
        return Err(FilesError::WriteOutput { source });
    }
    let value = joined(task, outcome)?;
    match drained {
        Ok(_) => Ok(value),
        Err(CopyError::Read(source) | CopyError::Write(source)) => {
            Err(FilesError::WriteOutput { source })
        }
    }
}
