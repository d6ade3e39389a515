//! [`RedisSource`]: preflight, and a backup in the configured mode — the `rdb` snapshot over
//! the replication protocol ([`crate::rdb_backup`]) or the `logical` SCAN + DUMP + PTTL
//! backup ([`crate::logical_backup`]), with the fallback from one to the other.

use async_trait::async_trait;
use backup_core::{Dumped, Preflight, Source, StoreError};
use serde_json::json;
use tokio::io::AsyncWrite;

use crate::conn::Conn;
use crate::endpoint::Endpoint;
use crate::format::DumpFormat;
use crate::info::ServerInfo;
use crate::logical_backup::logical_backup;
use crate::options::Mode;
use crate::rdb_backup::rdb_backup;
use crate::{RedisError, RedisMetadata, RedisOptions, KIND};

/// The backup side: a point-in-time RDB snapshot (`mode = "rdb"`, dump format `rdb`) or a
/// logical dump (`mode = "logical"`, dump format `redis-logical`).
#[derive(Debug)]
pub struct RedisSource {
    options: RedisOptions,
    endpoint: Endpoint,
}

impl RedisSource {
    /// A source with these options (checked, no I/O).
    pub fn new(options: RedisOptions) -> Result<Self, RedisError> {
        options.validate()?;
        let endpoint = options.endpoint()?;
        Ok(Self { options, endpoint })
    }

    fn format(&self) -> DumpFormat {
        match self.options.mode {
            Mode::Rdb => DumpFormat::Rdb,
            Mode::Logical => DumpFormat::Logical,
        }
    }

    async fn dump(
        &self,
        info: &ServerInfo,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<RedisMetadata, RedisError> {
        let ep = &self.endpoint;
        let mut metadata = match self.options.mode {
            Mode::Logical => logical_backup(ep, &self.options, info, out, false).await?,
            Mode::Rdb => match rdb_backup(ep, out).await {
                Ok(m) => m,
                Err(RedisError::SyncRefused { source, .. })
                    if self.options.fallback == Some(Mode::Logical) =>
                {
                    tracing::warn!(
                        server = %ep.redacted(),
                        "the server refused SYNC ({source}); taking a logical backup instead"
                    );
                    let mut m = logical_backup(ep, &self.options, info, out, true).await?;
                    m.fallback_from = Some(Mode::Rdb);
                    m.fallback_reason = Some(source.text().to_string());
                    m
                }
                Err(e) => return Err(e),
            },
        };
        metadata.server = Some(info.to_metadata());
        Ok(metadata)
    }
}

#[async_trait]
impl Source for RedisSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn dump_format(&self) -> &'static str {
        self.format().name()
    }

    fn extension(&self) -> &'static str {
        self.format().extension()
    }

    async fn preflight(&self) -> Result<Preflight, StoreError> {
        let conn = Conn::connect(&self.endpoint).await?;
        let info = conn.info().await;
        conn.close().await;
        let info = info?;
        let used = info
            .get("used_memory_dataset")
            .or(info.get("used_memory"))
            .and_then(|v| v.parse::<u64>().ok());
        Ok(Preflight {
            version: Some(info.version()),
            estimated_bytes: used,
            details: json!({
                "server": self.endpoint.redacted(),
                "mode": self.options.mode.as_str(),
                "info": info.to_metadata(),
            }),
        })
    }

    async fn backup(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<Dumped, StoreError> {
        let conn = Conn::connect(&self.endpoint).await?;
        let info = conn.info().await;
        let result = match info {
            Ok(info) => self.dump(&info, out).await,
            Err(e) => Err(e),
        };
        conn.close().await;
        Dumped::new(&result?)
    }
}
