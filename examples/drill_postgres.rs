//! A restore drill of a PostgreSQL database through the library: what `lifeboat backup` and
//! `lifeboat verify --deep` do, from your own code (a service's integration test, say).
//!
//! 1. backs up the database at `DATABASE_URL` (default
//!    `postgres://root@127.0.0.1:5432/postgres`) with [`store_postgres::PostgresSource`]:
//!    `pg_dump --snapshot` of a REPEATABLE READ snapshot, whose exact row counts go into the
//!    manifest, through zstd into a temporary local-folder storage;
//! 2. runs [`store_postgres::PostgresDrill`] over the stored backup with
//!    [`backup_core::pipeline::run_check`]: both checksums, then a real restore into a scratch
//!    database `lifeboat_verify_<id>_<random>` on the same server, row counts and schema hash
//!    compared with the manifest, scratch database dropped;
//! 3. prints the drill's report (tables compared, restore time).
//!
//! ```sh
//! DATABASE_URL=postgres://root@127.0.0.1:5432/mydb cargo run -p lifeboat-examples --example drill_postgres
//! ```
//!
//! The role needs `CREATEDB` for the scratch database; `pg_dump` and `pg_restore` must be on
//! `PATH`, at least as new as the server.

use std::sync::Arc;

use backup_core::catalog::{catalog, Selector};
use backup_core::pipeline::{run_backup, run_check, BackupRequest, RestoreRequest};
use backup_core::transform::{Compression, Keyring, Transform};
use backup_core::{Sink, Source};
use lifeboat_sinks::{OpendalSink, StorageConfig};
use store_postgres::{DumpFormat, PostgresDrill, PostgresOptions, PostgresSource};

type BoxError = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_string());
    // The same options as a `kind = "postgres"` table of lifeboat.toml would give; the URL
    // is a secret (it may hold a password) and is only ever shown redacted.
    let mut options = PostgresOptions::from_url(url);
    options.format = DumpFormat::Custom;
    options.connect_timeout = "30s".parse()?;

    let dir = tempfile::tempdir()?;
    let storage: StorageConfig = toml::from_str(&format!(
        "kind = \"fs\"\nroot = {}",
        toml::Value::String(dir.path().join("backups").to_string_lossy().into_owned())
    ))?;
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(OpendalSink::new("local", &storage)?)];
    let transforms: Vec<Box<dyn Transform>> = Compression::Zstd {
        level: 3,
        workers: 0,
    }
    .transform()?
    .into_iter()
    .collect();

    let source = PostgresSource::new(options.clone())?;
    let preflight = source.preflight().await?;
    println!(
        "PostgreSQL {}, about {} bytes",
        preflight.version.as_deref().unwrap_or("?"),
        preflight.estimated_bytes.unwrap_or(0)
    );
    let outcome = run_backup(BackupRequest {
        source_name: "drill",
        source: &source,
        transforms: &transforms,
        sinks: &sinks,
        size_hint: preflight.estimated_bytes,
        progress: None,
    })
    .await?;
    println!(
        "backup {}: {} bytes of pg_dump, {} stored",
        outcome.manifest.id,
        outcome.manifest.artifact.raw_bytes,
        outcome.manifest.artifact.stored_bytes
    );

    let found = catalog(&sinks, "drill").await;
    let latest = found
        .select(&Selector::Latest)
        .ok_or("the catalog is empty right after a backup")?;
    let sink = sinks.first().ok_or("no storage")?;
    let report = run_check(
        &RestoreRequest {
            sink: sink.as_ref(),
            manifest: &latest.manifest,
            keyring: &Keyring::new(),
            progress: None,
        },
        &PostgresDrill::new(&options)?,
    )
    .await?;
    println!("drill: {}", report.summary);
    println!("{}", serde_json::to_string_pretty(&report.details)?);
    Ok(())
}
