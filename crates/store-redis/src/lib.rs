//! # store-redis
//!
//! lifeboat's Redis store. SKELETON: the public API the CLI uses is fixed here
//! (`RedisOptions`, `RedisSource`, `RedisTarget`, `RedisCheck`, `RedisDrill`, `DUMP_FORMATS`); the
//! implementation lands with its issue.
//!
//! ```
//! assert_eq!(store_redis::KIND, "redis");
//! ```

use async_trait::async_trait;
use backup_core::{
    FormatCheck, Manifest, Preflight, Report, RestoreOptions, Source, StoreError, Target,
};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};

/// The `kind` this store answers to in `lifeboat.toml`.
pub const KIND: &str = "redis";

/// The dump formats this store writes (the manifest's `dump_format`).
pub const DUMP_FORMATS: &[&str] = &["rdb"];

/// The options of a `kind = "redis"` source (the keys of its `[[sources]]` table).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisOptions {
    /// The server's URL.
    pub url: String,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions").finish_non_exhaustive()
    }
}

/// Errors of this store.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// Not implemented yet.
    #[error("the redis store is not implemented yet")]
    NotImplemented,
}

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> Self {
        StoreError::failed(e)
    }
}

/// The backup side.
#[derive(Debug)]
pub struct RedisSource {
    #[allow(dead_code)]
    options: RedisOptions,
}

impl RedisSource {
    /// A source with these options.
    pub fn new(options: RedisOptions) -> Result<Self, RedisError> {
        Ok(Self { options })
    }
}

#[async_trait]
impl Source for RedisSource {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn dump_format(&self) -> &'static str {
        "rdb"
    }
    fn extension(&self) -> &'static str {
        "rdb"
    }
    async fn preflight(&self) -> Result<Preflight, StoreError> {
        Err(RedisError::NotImplemented.into())
    }
    async fn backup(
        &self,
        _out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<serde_json::Value, StoreError> {
        Err(RedisError::NotImplemented.into())
    }
}

/// The restore side: the source's own server, or `to` (a URL, or a path where the store
/// supports one).
#[derive(Debug)]
pub struct RedisTarget {
    #[allow(dead_code)]
    options: RedisOptions,
}

impl RedisTarget {
    /// A target for the source with `options`, or `to` instead of the source's own location.
    pub fn new(options: &RedisOptions, _to: Option<&str>) -> Result<Self, RedisError> {
        Ok(Self {
            options: options.clone(),
        })
    }
}

#[async_trait]
impl Target for RedisTarget {
    fn describe(&self) -> String {
        "redis".to_string()
    }
    async fn prepare(&self, _m: &Manifest, _o: &RestoreOptions) -> Result<(), StoreError> {
        Err(RedisError::NotImplemented.into())
    }
    async fn restore(
        &self,
        _input: &mut (dyn AsyncRead + Send + Unpin),
        _m: &Manifest,
        _o: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        Err(RedisError::NotImplemented.into())
    }
}

/// The format check `verify` runs on a dump of one of [`DUMP_FORMATS`].
#[derive(Debug, Default)]
pub struct RedisCheck;

impl RedisCheck {
    /// The check.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl FormatCheck for RedisCheck {
    async fn check(
        &self,
        _input: &mut (dyn AsyncRead + Send + Unpin),
        _m: &Manifest,
    ) -> Result<Report, StoreError> {
        Err(RedisError::NotImplemented.into())
    }
}

/// `verify --deep`: a restore drill into a scratch target next to the source, compared with
/// the manifest, then removed.
#[derive(Debug)]
pub struct RedisDrill {
    #[allow(dead_code)]
    options: RedisOptions,
}

impl RedisDrill {
    /// A drill for the source with `options`.
    pub fn new(options: &RedisOptions) -> Result<Self, RedisError> {
        Ok(Self {
            options: options.clone(),
        })
    }
}

#[async_trait]
impl FormatCheck for RedisDrill {
    async fn check(
        &self,
        _input: &mut (dyn AsyncRead + Send + Unpin),
        _m: &Manifest,
    ) -> Result<Report, StoreError> {
        Err(RedisError::NotImplemented.into())
    }
}
