//! [`copy`]: a bounded streaming copy that says which side failed, because a restore must
//! tell a damaged or truncated backup (the input: a checksum or decryption failure arrives as
//! a read error) from a full disk or a dead server (the output).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The buffer [`copy`] reads into: memory stays at this, whatever the stream's length.
pub const COPY_BUFFER: usize = 128 * 1024;

/// Which side of a [`copy`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Reading the input failed.
    #[error("reading the input failed: {0}")]
    Read(#[source] io::Error),
    /// Writing (or flushing) the output failed.
    #[error("writing the output failed: {0}")]
    Write(#[source] io::Error),
}

impl CopyError {
    /// The underlying I/O error, whichever side it came from.
    pub fn io_error(&self) -> &io::Error {
        match self {
            CopyError::Read(err) | CopyError::Write(err) => err,
        }
    }
}

/// Copies `reader` to its EOF into `writer` through one [`COPY_BUFFER`], then flushes
/// `writer` (it is not shut down: the caller owns its end). Returns the bytes copied.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), lifeboat_edge::copy::CopyError> {
/// let mut out = Vec::new();
/// let n = lifeboat_edge::copy::copy(&mut &b"dump"[..], &mut out).await?;
/// assert_eq!((n, out.as_slice()), (4, &b"dump"[..]));
/// # Ok(())
/// # }
/// ```
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> Result<u64, CopyError>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer).await.map_err(CopyError::Read)?;
        if n == 0 {
            break;
        }
        writer
            .write_all(&buffer[..n])
            .await
            .map_err(CopyError::Write)?;
        total += n as u64;
    }
    writer.flush().await.map_err(CopyError::Write)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    struct Broken;

    impl AsyncRead for Broken {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "checksum")))
        }
    }

    impl AsyncWrite for Broken {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Err(io::Error::new(io::ErrorKind::StorageFull, "disk full")))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn each_side_is_named() {
        let err = copy(&mut Broken, &mut Vec::new()).await.unwrap_err();
        assert!(matches!(err, CopyError::Read(_)), "{err}");
        let err = copy(&mut &b"x"[..], &mut Broken).await.unwrap_err();
        assert!(matches!(err, CopyError::Write(_)), "{err}");
        assert_eq!(err.io_error().kind(), io::ErrorKind::StorageFull);
    }
}
