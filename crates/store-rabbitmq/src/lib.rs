//! # store-rabbitmq
//!
//! lifeboat's RabbitMQ store. SKELETON: the public API the CLI uses is fixed here
//! (`RabbitmqOptions`, `RabbitmqSource`, `RabbitmqTarget`, `RabbitmqCheck`, `RabbitmqDrill`, `DUMP_FORMATS`); the
//! implementation lands with its issue.
//!
//! ```
//! assert_eq!(store_rabbitmq::KIND, "rabbitmq");
//! ```

use async_trait::async_trait;
use backup_core::{
    FormatCheck, Manifest, Preflight, Report, RestoreOptions, Source, StoreError, Target,
};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};

/// The `kind` this store answers to in `lifeboat.toml`.
pub const KIND: &str = "rabbitmq";

/// The dump formats this store writes (the manifest's `dump_format`).
pub const DUMP_FORMATS: &[&str] = &["rabbitmq-definitions"];

/// The options of a `kind = "rabbitmq"` source (the keys of its `[[sources]]` table).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RabbitmqOptions {
    /// The server's URL.
    pub url: String,
}

impl std::fmt::Debug for RabbitmqOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitmqOptions").finish_non_exhaustive()
    }
}

/// Errors of this store.
#[derive(Debug, thiserror::Error)]
pub enum RabbitmqError {
    /// Not implemented yet.
    #[error("the rabbitmq store is not implemented yet")]
    NotImplemented,
}

impl From<RabbitmqError> for StoreError {
    fn from(e: RabbitmqError) -> Self {
        StoreError::failed(e)
    }
}

/// The backup side.
#[derive(Debug)]
pub struct RabbitmqSource {
    #[allow(dead_code)]
    options: RabbitmqOptions,
}

impl RabbitmqSource {
    /// A source with these options.
    pub fn new(options: RabbitmqOptions) -> Result<Self, RabbitmqError> {
        Ok(Self { options })
    }
}

#[async_trait]
impl Source for RabbitmqSource {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn dump_format(&self) -> &'static str {
        "rabbitmq-definitions"
    }
    fn extension(&self) -> &'static str {
        "json"
    }
    async fn preflight(&self) -> Result<Preflight, StoreError> {
        Err(RabbitmqError::NotImplemented.into())
    }
    async fn backup(
        &self,
        _out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<serde_json::Value, StoreError> {
        Err(RabbitmqError::NotImplemented.into())
    }
}

/// The restore side: the source's own server, or `to` (a URL, or a path where the store
/// supports one).
#[derive(Debug)]
pub struct RabbitmqTarget {
    #[allow(dead_code)]
    options: RabbitmqOptions,
}

impl RabbitmqTarget {
    /// A target for the source with `options`, or `to` instead of the source's own location.
    pub fn new(options: &RabbitmqOptions, _to: Option<&str>) -> Result<Self, RabbitmqError> {
        Ok(Self {
            options: options.clone(),
        })
    }
}

#[async_trait]
impl Target for RabbitmqTarget {
    fn describe(&self) -> String {
        "rabbitmq".to_string()
    }
    async fn prepare(&self, _m: &Manifest, _o: &RestoreOptions) -> Result<(), StoreError> {
        Err(RabbitmqError::NotImplemented.into())
    }
    async fn restore(
        &self,
        _input: &mut (dyn AsyncRead + Send + Unpin),
        _m: &Manifest,
        _o: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        Err(RabbitmqError::NotImplemented.into())
    }
}

/// The format check `verify` runs on a dump of one of [`DUMP_FORMATS`].
#[derive(Debug, Default)]
pub struct RabbitmqCheck;

impl RabbitmqCheck {
    /// The check.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl FormatCheck for RabbitmqCheck {
    async fn check(
        &self,
        _input: &mut (dyn AsyncRead + Send + Unpin),
        _m: &Manifest,
    ) -> Result<Report, StoreError> {
        Err(RabbitmqError::NotImplemented.into())
    }
}

/// `verify --deep`: a restore drill into a scratch target next to the source, compared with
/// the manifest, then removed.
#[derive(Debug)]
pub struct RabbitmqDrill {
    #[allow(dead_code)]
    options: RabbitmqOptions,
}

impl RabbitmqDrill {
    /// A drill for the source with `options`.
    pub fn new(options: &RabbitmqOptions) -> Result<Self, RabbitmqError> {
        Ok(Self {
            options: options.clone(),
        })
    }
}

#[async_trait]
impl FormatCheck for RabbitmqDrill {
    async fn check(
        &self,
        _input: &mut (dyn AsyncRead + Send + Unpin),
        _m: &Manifest,
    ) -> Result<Report, StoreError> {
        Err(RabbitmqError::NotImplemented.into())
    }
}
