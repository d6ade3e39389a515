//! zstd and gzip compression stages (async-compression).

use async_compression::tokio::bufread::{GzipDecoder, ZstdDecoder};
use async_compression::tokio::write::{GzipEncoder, ZstdEncoder};
use async_compression::Level;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::BufReader;

use super::{Transform, TransformError, TransformSpec};
use crate::io::{BoxWriter, MapErrReader};
use crate::BoxReader;

/// Read buffer under a decoder.
const DECODE_BUFFER: usize = 128 * 1024;

/// zstd's job size when it compresses with worker threads. zstd's own default is 4× the
/// window (8 MiB at level 3), and it keeps `(workers + 3)` jobs of input plus an output buffer
/// per job in flight: about 90 MiB with 2 workers. 2 MiB jobs bring that to about 20 MiB, cost
/// nothing measurable in ratio at the default levels (the 256 KiB overlap between jobs keeps
/// the matches) and run faster, the buffers staying in cache. zstd raises it to the overlap
/// size when that is larger (high levels).
const ZSTD_JOB_BYTES: u32 = 2 * 1024 * 1024;

/// The most zstd worker threads a config may ask for (memory grows by about 4 MiB each).
pub const MAX_ZSTD_WORKERS: u32 = 16;

/// The compression setting of the config (`[compression]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "lowercase", deny_unknown_fields)]
pub enum Compression {
    /// No compression.
    None,
    /// zstd.
    Zstd {
        /// Level 1 to 19 (default 3).
        #[serde(default = "default_zstd_level")]
        level: i32,
        /// Worker threads (0 = compress on the pipeline's own thread; default
        /// [`DEFAULT_ZSTD_WORKERS`]).
        #[serde(default = "default_zstd_workers")]
        workers: u32,
    },
    /// gzip.
    Gzip {
        /// Level 1 to 9 (default 6).
        #[serde(default = "default_gzip_level")]
        level: u32,
    },
}

fn default_zstd_level() -> i32 {
    3
}

/// zstd worker threads when the config says nothing. Not only parallelism: with workers zstd
/// compresses each job from one contiguous buffer, while its single-threaded streaming mode
/// wraps a ring buffer and spends most of its time in the slower "external dictionary" match
/// finder. Measured on a 2-core machine backing up PostgreSQL (benches/postgres.sh, 450 MB):
/// 0 workers 1.35 × the time of `pg_dump` alone, 1 worker 1.20 ×, 2 workers 1.08 ×, for about
/// 14 MiB more RSS.
pub const DEFAULT_ZSTD_WORKERS: u32 = 2;

fn default_zstd_workers() -> u32 {
    DEFAULT_ZSTD_WORKERS
}

fn default_gzip_level() -> u32 {
    6
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Zstd {
            level: default_zstd_level(),
            workers: DEFAULT_ZSTD_WORKERS,
        }
    }
}

impl Compression {
    /// The transform for this setting, or `None` for no compression. Levels out of range are
    /// an error naming the range.
    pub fn transform(&self) -> Result<Option<Box<dyn Transform>>, TransformError> {
        match *self {
            Compression::None => Ok(None),
            Compression::Zstd { level, workers } => {
                if !(1..=19).contains(&level) {
                    return Err(TransformError::Config(format!(
                        "zstd level {level} is out of range 1..=19"
                    )));
                }
                if workers > MAX_ZSTD_WORKERS {
                    return Err(TransformError::Config(format!(
                        "zstd workers {workers} is more than {MAX_ZSTD_WORKERS}: each worker \
                         holds about 4 MiB of buffers"
                    )));
                }
                Ok(Some(Box::new(ZstdTransform { level, workers })))
            }
            Compression::Gzip { level } => {
                if !(1..=9).contains(&level) {
                    return Err(TransformError::Config(format!(
                        "gzip level {level} is out of range 1..=9"
                    )));
                }
                Ok(Some(Box::new(GzipTransform { level })))
            }
        }
    }
}

/// zstd at `level`, optionally with `workers` compression threads.
#[derive(Debug, Clone, Copy)]
pub struct ZstdTransform {
    /// Level 1 to 19.
    pub level: i32,
    /// Worker threads; 0 compresses on the calling thread.
    pub workers: u32,
}

#[async_trait]
impl Transform for ZstdTransform {
    fn spec(&self) -> TransformSpec {
        TransformSpec::Zstd {
            level: self.level,
            workers: self.workers,
        }
    }

    async fn wrap_writer(&self, inner: BoxWriter) -> Result<BoxWriter, TransformError> {
        let level = Level::Precise(self.level);
        let encoder = if self.workers > 0 {
            let params = [
                async_compression::zstd::CParameter::nb_workers(self.workers),
                async_compression::zstd::CParameter::job_size(ZSTD_JOB_BYTES),
            ];
            ZstdEncoder::with_quality_and_params(inner, level, &params)
        } else {
            ZstdEncoder::with_quality(inner, level)
        };
        Ok(Box::new(encoder))
    }

    async fn wrap_reader(&self, inner: BoxReader) -> Result<BoxReader, TransformError> {
        let decoder = ZstdDecoder::new(BufReader::with_capacity(DECODE_BUFFER, inner));
        Ok(Box::new(MapErrReader::new(decoder, "zstd decompression")))
    }
}

/// gzip at `level`.
#[derive(Debug, Clone, Copy)]
pub struct GzipTransform {
    /// Level 1 to 9.
    pub level: u32,
}

#[async_trait]
impl Transform for GzipTransform {
    fn spec(&self) -> TransformSpec {
        TransformSpec::Gzip { level: self.level }
    }

    async fn wrap_writer(&self, inner: BoxWriter) -> Result<BoxWriter, TransformError> {
        let level = Level::Precise(self.level as i32);
        Ok(Box::new(GzipEncoder::with_quality(inner, level)))
    }

    async fn wrap_reader(&self, inner: BoxReader) -> Result<BoxReader, TransformError> {
        let decoder = GzipDecoder::new(BufReader::with_capacity(DECODE_BUFFER, inner));
        Ok(Box::new(MapErrReader::new(decoder, "gzip decompression")))
    }
}
