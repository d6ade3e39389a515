//! The async side of the bridges between the pipeline's async streams and the sync `tar` code
//! running in a blocking task: a bounded `tokio::io::duplex` pipe in between, and copy loops
//! that say which side failed.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::task::JoinError;

use crate::FilesError;

/// Capacity of the duplex pipe and size of the copy buffers: memory stays bounded by a few of
/// these whatever the size of the tree.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Which side of a copy failed.
#[derive(Debug)]
pub(crate) enum PumpError {
    /// Reading from the source stream failed.
    Read(io::Error),
    /// Writing into the destination failed.
    Write(io::Error),
}

async fn pump<R, W>(reader: &mut R, writer: &mut W) -> Result<u64, PumpError>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await.map_err(PumpError::Read)?;
        if n == 0 {
            return Ok(total);
        }
        writer
            .write_all(&buf[..n])
            .await
            .map_err(PumpError::Write)?;
        total += n as u64;
    }
}

/// Copies everything the blocking writer produces into `out`, then flushes `out` (it is never
/// shut down: the pipeline finishes it). The pipe's read half is dropped on return, so a
/// blocking writer still running gets a broken pipe instead of waiting forever.
pub(crate) async fn drain_into<W>(mut pipe: DuplexStream, out: &mut W) -> Result<u64, PumpError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let total = pump(&mut pipe, out).await?;
    out.flush().await.map_err(PumpError::Write)?;
    Ok(total)
}

/// Copies `input` to its EOF into the pipe, then closes the pipe so the blocking reader sees
/// EOF. The pipe's write half is dropped on return in every case.
pub(crate) async fn feed<R>(input: &mut R, mut pipe: DuplexStream) -> Result<u64, PumpError>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let total = pump(input, &mut pipe).await?;
    pipe.shutdown().await.map_err(PumpError::Write)?;
    Ok(total)
}

/// Flattens a blocking task's outcome.
pub(crate) fn joined<T>(
    task: &'static str,
    outcome: Result<Result<T, FilesError>, JoinError>,
) -> Result<T, FilesError> {
    outcome.map_err(|err| FilesError::Task(task, err.to_string()))?
}

/// Combines the outcome of [`feed`] and of the blocking reader it fed.
///
/// A failure to *read* the input comes first: it is the cause (a checksum mismatch, a failed
/// decryption, storage going away), and whatever the blocking side then saw (a truncated
/// archive) is its consequence. Then the blocking side's own error. A failure to write into the
/// pipe only means the blocking side stopped early, which its own result explains.
pub(crate) fn settle_reader<T>(
    fed: Result<u64, PumpError>,
    task: &'static str,
    outcome: Result<Result<T, FilesError>, JoinError>,
) -> Result<T, FilesError> {
    if let Err(PumpError::Read(source)) = fed {
        return Err(FilesError::ReadInput { source });
    }
    let value = joined(task, outcome)?;
    match fed {
        Ok(_) => Ok(value),
        Err(PumpError::Read(source)) => Err(FilesError::ReadInput { source }),
        Err(PumpError::Write(source)) => Err(FilesError::Task(
            task,
            format!("it stopped reading the stream early: {source}"),
        )),
    }
}

/// Combines the outcome of [`drain_into`] and of the blocking writer that fed it.
///
/// A failure to write `out` comes first (the blocking writer then fails with a broken pipe);
/// then the blocking side's own error.
pub(crate) fn settle_writer<T>(
    drained: Result<u64, PumpError>,
    task: &'static str,
    outcome: Result<Result<T, FilesError>, JoinError>,
) -> Result<T, FilesError> {
    if let Err(PumpError::Write(source)) = drained {
        return Err(FilesError::WriteOutput { source });
    }
    let value = joined(task, outcome)?;
    match drained {
        Ok(_) => Ok(value),
        Err(PumpError::Read(source) | PumpError::Write(source)) => {
            Err(FilesError::WriteOutput { source })
        }
    }
}
