//! The PostgreSQL store of lifeboat: snapshot-consistent `pg_dump` backups, restores that never
//! overwrite data without `--force`, and restore drills.
//!
//! - [`PostgresSource`] opens a REPEATABLE READ transaction, exports its snapshot
//!   (`pg_export_snapshot()`), and runs `pg_dump --snapshot=<id>` (custom format with `-Z0`, or
//!   plain SQL) while it counts every table's rows in the same snapshot; the transaction stays
//!   open until pg_dump exits. The manifest metadata ([`PostgresMetadata`]) holds, per
//!   database, the exact row counts, a schema hash, size, encoding and locale, with the server
//!   and pg_dump versions. pg_dump's exit status and stderr are checked after EOF; a non-zero
//!   exit, a signal or an empty dump fails the backup (no manifest), with pg_dump's stderr in
//!   the error.
//! - [`PostgresTarget`] restores into the source's database or `--to` another, created if
//!   missing, refused if not empty unless `--force`; then compares row counts.
//! - [`PostgresCheck`] checks a dump's format without a server; [`PostgresDrill`] restores into
//!   a scratch database and compares counts and the schema hash (`verify --deep`).
//!
//! Passwords (in the URL or the `password` option) reach the client tools only through
//! `PGPASSWORD` in their environment, never their command line; URLs are shown redacted.
//!
//! TLS follows libpq's `sslmode` (`disable`, `allow`, `prefer` (default), `require`,
//! `verify-ca`, `verify-full`) and `sslrootcert` / [`PostgresOptions::tls_ca_file`]: the
//! in-process connections use rustls (system roots unless a root file is given), the client
//! tools get `PGSSLMODE` / `PGSSLROOTCERT`, so both check the same. The manifest records the
//! TLS version the server saw (`tls`).
//!
//! # Dump formats
//!
//! One database and no `globals`: the artifact is pg_dump's own output, so a backup can be
//! restored without lifeboat (`age -d -i key data.dump.zst.age | zstd -d | pg_restore -d db`):
//! `pg_dump-custom` (extension `dump`) or `pg_dump-plain` (extension `sql`). Several
//! `databases` and/or `globals = true`: one `pg_dump-bundle` (extension `pgbundle`), a simple
//! framed stream of the parts, described in the [`bundle`] module:
//!
//! ```text
//! "LIFEBOAT-PG-BUNDLE/1\n"
//! 'P' u32be(len) {"name":"db:orders","kind":"database","database":"orders","format":"custom"}
//!     u32be(n) <n bytes of pg_dump output> ... u32be(0)
//! ...more parts...
//! 'E' u32be(len) {"parts":2,"payload_bytes":12345}
//! ```
//!
//! # Example
//!
//! ```no_run
//! use backup_core::Source;
//! use lifeboat_edge::Secret;
//! use store_postgres::{PostgresMetadata, PostgresOptions, PostgresSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut options = PostgresOptions::from_url("postgres://backup@127.0.0.1:5432/orders");
//! options.password = std::env::var("ORDERS_DB_PASSWORD").ok().map(Secret::new);
//! let source = PostgresSource::new(options)?;
//! let preflight = source.preflight().await?;
//! println!("PostgreSQL {:?}, about {:?} bytes", preflight.version, preflight.estimated_bytes);
//!
//! // Any tokio AsyncWrite will do; the backup pipeline passes its compressor here.
//! let mut dump = Vec::new();
//! let dumped = source.backup(&mut dump).await?;
//! assert!(dump.starts_with(b"PGDMP"));
//! // What the manifest records; `manifest.metadata_as::<PostgresMetadata>()` reads it back.
//! let metadata: PostgresMetadata = serde_json::from_value(dumped.metadata)?;
//! println!("row counts: {:?}", metadata.databases[0].tables);
//! # Ok(())
//! # }
//! ```

pub mod bundle;
mod catalog;
mod check;
mod conn;
mod drill;
mod error;
mod format;
mod hold_back;
mod metadata;
mod options;
mod restore;
mod source;
mod sql;
mod store;
mod target;
mod toc;
mod tools;

pub use check::PostgresCheck;
pub use drill::PostgresDrill;
pub use error::{PostgresError, ServerError, Step, TlsHint, UrlError};
pub use format::ArtifactFormat;
pub use metadata::{DatabaseMetadata, PostgresMetadata};
pub use options::{DumpFormat, PostgresOptions};
pub use source::PostgresSource;
pub use store::{Postgres, DESCRIPTOR};
pub use target::PostgresTarget;

/// The `kind` this store answers to in `lifeboat.toml`.
pub const KIND: &str = "postgres";

/// `pg_dump --format=custom -Z0` output of one database.
pub const FORMAT_CUSTOM: &str = "pg_dump-custom";
/// `pg_dump --format=plain` output of one database.
pub const FORMAT_PLAIN: &str = "pg_dump-plain";
/// Several dumps (databases, globals) in one [`bundle`].
pub const FORMAT_BUNDLE: &str = "pg_dump-bundle";

/// The dump formats this store writes (the manifest's `dump_format`).
pub const FORMATS: &[&str] = &[FORMAT_CUSTOM, FORMAT_PLAIN, FORMAT_BUNDLE];
