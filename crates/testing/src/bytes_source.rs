//! [`BytesSource`]: a source that dumps bytes held in memory, or dies midway on cue.

use async_trait::async_trait;
use backup_core::{Dumped, Preflight, Source, StoreError};

/// A source that writes `data` in small chunks, or fails once `fail_after` bytes were written
/// (to test what a dump dying midway does). Holds its data in memory: tests only.
pub struct BytesSource {
    /// What the dump consists of.
    pub data: Vec<u8>,
    /// Fail with a "simulated source failure" after this many bytes.
    pub fail_after: Option<usize>,
}

impl BytesSource {
    /// A source that dumps `data` successfully.
    pub fn new(data: Vec<u8>) -> Self {
        Self {
            data,
            fail_after: None,
        }
    }

    /// A source that dies after writing `fail_after` of `data`'s bytes.
    pub fn failing_after(data: Vec<u8>, fail_after: usize) -> Self {
        Self {
            data,
            fail_after: Some(fail_after),
        }
    }
}

/// The chunk size [`BytesSource`] writes in: a prime, so chunks never line up with the
/// pipeline's own buffers.
const SOURCE_CHUNK: usize = 7919;

#[async_trait]
impl Source for BytesSource {
    fn kind(&self) -> &'static str {
        "bytes"
    }

    fn dump_format(&self) -> &'static str {
        "raw"
    }

    fn extension(&self) -> &'static str {
        "bin"
    }

    async fn preflight(&self) -> Result<Preflight, StoreError> {
        Ok(Preflight {
            estimated_bytes: Some(self.data.len() as u64),
            ..Preflight::default()
        })
    }

    async fn backup(
        &self,
        out: &mut (dyn tokio::io::AsyncWrite + Send + Unpin),
    ) -> Result<Dumped, StoreError> {
        use tokio::io::AsyncWriteExt;
        for (index, chunk) in self.data.chunks(SOURCE_CHUNK).enumerate() {
            if self
                .fail_after
                .is_some_and(|limit| index * SOURCE_CHUNK >= limit)
            {
                return Err(StoreError::failed("simulated source failure midway"));
            }
            out.write_all(chunk).await.map_err(StoreError::failed)?;
        }
        Dumped::new(&serde_json::json!({ "len": self.data.len() }))
    }
}
