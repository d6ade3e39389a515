//! [`RedisTarget`]: where a restore goes — the source's server, another one (`--to
//! redis://...`), or a file (`--to PATH`) — and the checks made before a byte is read.
//!
//! Redis cannot stage a restore: keys become visible as their `RESTORE` runs. What a failure
//! midway (a truncated or corrupt artifact, a dropped connection) leaves behind: every key of
//! the batches restored before the failure stays on the target; the target's other keys are
//! untouched (without `--force` the receiving dbs were empty, so everything there came from
//! this backup and `FLUSHDB` undoes it; with `--force` keys of the same name were replaced).
//! A file restore (`--to PATH`) is staged beside the path and renamed only after the whole
//! stream was read and checked, so it never leaves a partial file.

use std::path::PathBuf;
use std::time::Instant;

use async_trait::async_trait;
use backup_core::{Manifest, Report, RestoreOptions, StoreError, Target};
use lifeboat_edge::redact_url_text;
use tokio::io::AsyncRead;

use crate::conn::Conn;
use crate::endpoint::Endpoint;
use crate::file_restore::restore_file;
use crate::format::DumpFormat;
use crate::restore::restore_into;
use crate::{RedisError, RedisMetadata, RedisOptions};

/// Where a restore goes.
#[derive(Debug, Clone)]
enum Dest {
    Server(Endpoint),
    File(PathBuf),
}

/// The restore side: the source's own server (the URL's db is ignored: every key goes back
/// to its own db index), another server (`--to redis://...`), or a file (`--to PATH`, RDB
/// backups only).
#[derive(Debug)]
pub struct RedisTarget {
    dest: Dest,
    pipeline: usize,
}

impl RedisTarget {
    /// A target for the source with `options`, or `to` (a `redis://`/`rediss://` URL or a
    /// file path) instead of the source's own server.
    pub fn new(options: &RedisOptions, to: Option<&str>) -> Result<Self, RedisError> {
        options.validate()?;
        let dest = match to {
            None => Dest::Server(options.endpoint()?),
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                let mut ep = Endpoint::parse(url)?;
                // The source's TLS settings and timeout apply to a `--to` server too.
                options.apply_connection_settings(&mut ep);
                Dest::Server(ep)
            }
            Some(path) if path.contains("://") => {
                return Err(RedisError::Config(format!(
                    "restore target {}: only redis:// or rediss:// URLs or file paths",
                    redact_url_text(path)
                )))
            }
            Some(path) => Dest::File(PathBuf::from(path)),
        };
        Ok(Self {
            dest,
            pipeline: options.pipeline.max(1),
        })
    }
}

/// The manifest's metadata, typed.
pub(crate) fn metadata_of(m: &Manifest) -> Result<RedisMetadata, RedisError> {
    m.metadata_as().map_err(RedisError::Metadata)
}

#[async_trait]
impl Target for RedisTarget {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    fn describe(&self) -> String {
        match &self.dest {
            Dest::Server(ep) => ep.redacted(),
            Dest::File(p) => p.display().to_string(),
        }
    }

    async fn prepare(&self, m: &Manifest, o: &RestoreOptions) -> Result<(), StoreError> {
        let format = DumpFormat::of(m)?;
        match &self.dest {
            Dest::File(path) => {
                if format != DumpFormat::Rdb {
                    return Err(RedisError::Config(
                        "a logical backup can only be restored into a server (--to redis://...)"
                            .into(),
                    )
                    .into());
                }
                if path.is_dir() {
                    return Err(RedisError::Config(format!(
                        "{} is a directory; give the dump.rdb file path",
                        path.display()
                    ))
                    .into());
                }
                if path.exists() && !o.force && !o.dry_run {
                    return Err(RedisError::TargetNotEmpty {
                        target: path.display().to_string(),
                        what: "the file exists".into(),
                    }
                    .into());
                }
                Ok(())
            }
            Dest::Server(ep) => {
                let wanted = metadata_of(m)?.dbs_with_keys();
                let conn = Conn::connect(ep).await?;
                let info = conn.info().await;
                conn.close().await;
                let info = info?;
                let busy: Vec<String> = info
                    .keyspace
                    .iter()
                    .filter(|(db, n)| **n > 0 && wanted.as_ref().is_none_or(|w| w.contains(db)))
                    .map(|(db, n)| format!("db{db}: {n} keys"))
                    .collect();
                if !busy.is_empty() && !o.force && !o.dry_run {
                    return Err(RedisError::TargetNotEmpty {
                        target: ep.redacted(),
                        what: busy.join(", "),
                    }
                    .into());
                }
                Ok(())
            }
        }
    }

    async fn restore(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        m: &Manifest,
        o: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        let started = Instant::now();
        match &self.dest {
            Dest::File(path) => Ok(restore_file(path, input, o).await?),
            Dest::Server(ep) => {
                let stats = restore_into(ep, input, m, o, self.pipeline).await?;
                Ok(stats.report(ep, o.dry_run, started.elapsed().as_millis() as u64))
            }
        }
    }
}
