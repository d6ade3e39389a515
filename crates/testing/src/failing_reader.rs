//! [`FailingReader`]: a reader that breaks off with a chosen error.

/// A reader that yields `data` in small reads, then fails with an error of `kind` once
/// `fail_at` bytes were read — or instead of EOF when `fail_at` is at or past the end. For
/// testing what a restore does when the stream breaks.
pub struct FailingReader {
    data: Vec<u8>,
    pos: usize,
    fail_at: usize,
    kind: std::io::ErrorKind,
}

impl FailingReader {
    /// Reads `data` up to `fail_at`, then fails with `kind`.
    pub fn new(data: Vec<u8>, fail_at: usize, kind: std::io::ErrorKind) -> Self {
        Self {
            data,
            pos: 0,
            fail_at,
            kind,
        }
    }
}

/// Small reads, so that a failure comes after the reader's consumer wrote several times.
const FAILING_READ_SIZE: usize = 1000;

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let end = self.fail_at.min(self.data.len());
        if self.pos >= end {
            return std::task::Poll::Ready(Err(std::io::Error::new(
                self.kind,
                "injected read failure",
            )));
        }
        let n = (end - self.pos).min(buf.remaining()).min(FAILING_READ_SIZE);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        std::task::Poll::Ready(Ok(()))
    }
}
