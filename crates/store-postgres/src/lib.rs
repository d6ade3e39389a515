//! # store-postgres
//!
//! lifeboat's PostgreSQL store. SKELETON: the public API the CLI uses is fixed here
//! (`PostgresOptions`, `PostgresSource`, `PostgresTarget`, `PostgresCheck`, `PostgresDrill`, `DUMP_FORMATS`); the
//! implementation lands with its issue.
//!
//! ```
//! assert_eq!(store_postgres::KIND, "postgres");
//! ```

use async_trait::async_trait;
use backup_core::{
    FormatCheck, Manifest, Preflight, Report, RestoreOptions, Source, StoreError, Target,
};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};

/// The `kind` this store answers to in `lifeboat.toml`.
pub const KIND: &str = "postgres";

/// The dump formats this store writes (the manifest's `dump_format`).
pub const DUMP_FORMATS: &[&str] = &["pg_dump-custom"];

/// The options of a `kind = "postgres"` source (the keys of its `[[sources]]` table).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresOptions {
    /// The server's URL.
    pub url: String,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions").finish_non_exhaustive()
    }
}

/// Errors of this store.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// Not implemented yet.
    #[error("the postgres store is not implemented yet")]
    NotImplemented,
}

impl From<PostgresError> for StoreError {
    fn from(e: PostgresError) -> Self {
        StoreError::failed(e)
    }
}

/// The backup side.
#[derive(Debug)]
pub struct PostgresSource {
    #[allow(dead_code)]
    options: PostgresOptions,
}

impl PostgresSource {
    /// A source with these options.
    pub fn new(options: PostgresOptions) -> Result<Self, PostgresError> {
        Ok(Self { options })
    }
}

#[async_trait]
impl Source for PostgresSource {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn dump_format(&self) -> &'static str {
        "pg_dump-custom"
    }
    fn extension(&self) -> &'static str {
        "dump"
    }
    async fn preflight(&self) -> Result<Preflight, StoreError> {
        Err(PostgresError::NotImplemented.into())
    }
    async fn backup(
        &self,
        _out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<serde_json::Value, StoreError> {
        Err(PostgresError::NotImplemented.into())
    }
}

/// The restore side: the source's own server, or `to` (a URL, or a path where the store
/// supports one).
#[derive(Debug)]
pub struct PostgresTarget {
    #[allow(dead_code)]
    options: PostgresOptions,
}

impl PostgresTarget {
    /// A target for the source with `options`, or `to` instead of the source's own location.
    pub fn new(options: &PostgresOptions, _to: Option<&str>) -> Result<Self, PostgresError> {
        Ok(Self {
            options: options.clone(),
        })
    }
}

#[async_trait]
impl Target for PostgresTarget {
    fn describe(&self) -> String {
        "postgres".to_string()
    }
    async fn prepare(&self, _m: &Manifest, _o: &RestoreOptions) -> Result<(), StoreError> {
        Err(PostgresError::NotImplemented.into())
    }
    async fn restore(
        &self,
        _input: &mut (dyn AsyncRead + Send + Unpin),
        _m: &Manifest,
        _o: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        Err(PostgresError::NotImplemented.into())
    }
}

/// The format check `verify` runs on a dump of one of [`DUMP_FORMATS`].
#[derive(Debug, Default)]
pub struct PostgresCheck;

impl PostgresCheck {
    /// The check.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl FormatCheck for PostgresCheck {
    async fn check(
        &self,
        _input: &mut (dyn AsyncRead + Send + Unpin),
        _m: &Manifest,
    ) -> Result<Report, StoreError> {
        Err(PostgresError::NotImplemented.into())
    }
}

/// `verify --deep`: a restore drill into a scratch target next to the source, compared with
/// the manifest, then removed.
#[derive(Debug)]
pub struct PostgresDrill {
    #[allow(dead_code)]
    options: PostgresOptions,
}

impl PostgresDrill {
    /// A drill for the source with `options`.
    pub fn new(options: &PostgresOptions) -> Result<Self, PostgresError> {
        Ok(Self {
            options: options.clone(),
        })
    }
}

#[async_trait]
impl FormatCheck for PostgresDrill {
    async fn check(
        &self,
        _input: &mut (dyn AsyncRead + Send + Unpin),
        _m: &Manifest,
    ) -> Result<Report, StoreError> {
        Err(PostgresError::NotImplemented.into())
    }
}
