//! A complete lifeboat round trip through the library, with nothing to set up:
//!
//! 1. creates a small SQLite database (`customers` and `orders`) in a temporary folder;
//! 2. backs it up with [`backup_core::pipeline::run_backup`] through zstd
//!    ([`backup_core::transform::Compression`]) and age
//!    ([`backup_core::transform::Encryption::to_recipients`], to a key generated on the spot)
//!    into a local-folder storage ([`lifeboat_sinks::OpendalSink`] of kind `fs`);
//! 3. lists the source's backups with [`backup_core::catalog::catalog`], which needs nothing
//!    but the storage (the manifests are the catalog);
//! 4. restores the latest backup with [`backup_core::pipeline::run_restore`] into a new file
//!    through [`store_sqlite::SqliteTarget`], which checks both sha256 checksums,
//!    `PRAGMA integrity_check` and the row counts of the manifest before the file appears;
//! 5. counts the rows of the restored database and compares them with the original.
//!
//! Run it with:
//!
//! ```sh
//! cargo run -p lifeboat-examples --example backup_sqlite
//! ```
//!
//! Everything lives in a temporary folder that is removed at the end. In a real service the
//! key would be made once (`lifeboat keygen`), its public half configured for backups and its
//! private half kept away from the storage: without it no backup can be read.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use backup_core::catalog::{catalog, Selector};
use backup_core::pipeline::{run_backup, run_restore, BackupRequest, RestoreRequest};
use backup_core::transform::{Compression, Encryption, Keyring, Transform};
use backup_core::{RestoreOptions, Sink};
use lifeboat_sinks::{OpendalSink, StorageConfig};
use rusqlite::Connection;
use store_sqlite::{SqliteSource, SqliteTarget};

type BoxError = Box<dyn std::error::Error>;

/// The source's name in storage (`[a-z0-9_-]+`).
const SOURCE_NAME: &str = "app";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("app.db");
    let original = create_database(&db_path)?;
    println!(
        "created {} with {}",
        db_path.display(),
        describe_counts(&original)
    );

    // The storage: a local folder, configured exactly like a `[storage.local]` table.
    let storage_root = dir.path().join("backups");
    let storage: StorageConfig = toml::from_str(&format!(
        "kind = \"fs\"\nroot = {}",
        toml_string(&storage_root)?
    ))?;
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(OpendalSink::new("local", &storage)?)];

    // The key: backups need only the public recipient; restores need the identity.
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    println!("encrypting to {recipient}");

    // Compression first, then encryption: the order the transforms apply in.
    let mut transforms: Vec<Box<dyn Transform>> = Vec::new();
    transforms.extend(
        Compression::Zstd {
            level: 3,
            workers: 0,
        }
        .transform()?,
    );
    transforms.push(Box::new(
        Encryption::to_recipients(std::slice::from_ref(&recipient))?.transform(),
    ));

    let source = SqliteSource::new(&db_path);
    let outcome = run_backup(BackupRequest {
        source_name: SOURCE_NAME,
        source: &source,
        transforms: &transforms,
        sinks: &sinks,
        size_hint: None,
        progress: None,
    })
    .await?;
    let artifact = &outcome.manifest.artifact;
    println!(
        "backup {}: {} raw bytes stored as {} bytes ({:.1}%) in {} ({} ms), key {}",
        outcome.manifest.id,
        artifact.raw_bytes,
        artifact.stored_bytes,
        outcome.manifest.ratio() * 100.0,
        outcome.stored_in.join(", "),
        outcome.manifest.duration_ms,
        artifact.key,
    );
    for failure in &outcome.failed {
        println!(
            "storage {} missed the backup: {}",
            failure.storage, failure.error
        );
    }

    // The catalog is read from storage alone: the manifests written last by each backup.
    let found = catalog(&sinks, SOURCE_NAME).await;
    if let Some(error) = found.errors.first() {
        return Err(format!("listing the storage failed: {error}").into());
    }
    println!(
        "catalog of `{SOURCE_NAME}`: {} backup(s)",
        found.entries.len()
    );
    for entry in &found.entries {
        let m = &entry.manifest;
        println!(
            "  {}  {}  {} -> {} bytes  ({} ms)",
            m.id, m.dump_format, m.artifact.raw_bytes, m.artifact.stored_bytes, m.duration_ms
        );
    }
    let latest = found
        .select(&Selector::Latest)
        .ok_or("the catalog is empty right after a backup")?;
    // One storage here; with several, any storage holding the backup will do.
    let sink = sinks.first().ok_or("no storage configured")?;

    // Restore into a new file: the identity decrypts, the target checks before it commits.
    let restored_path = dir.path().join("restored").join("app.db");
    let keyring = Keyring::new().with_identities(vec![identity]);
    let report = run_restore(
        &RestoreRequest {
            sink: sink.as_ref(),
            manifest: &latest.manifest,
            keyring: &keyring,
            progress: None,
        },
        &SqliteTarget::new(&restored_path),
        &RestoreOptions::default(),
    )
    .await?;
    println!("{}", report.summary);

    let restored = count_rows(&Connection::open(&restored_path)?)?;
    println!("restored database holds {}", describe_counts(&restored));
    if restored != original {
        return Err(format!(
            "the restored row counts differ: {} instead of {}",
            describe_counts(&restored),
            describe_counts(&original)
        )
        .into());
    }
    println!("row counts match the original");
    Ok(())
}

/// Creates the example database (two tables, a few hundred rows) and returns its row counts.
fn create_database(path: &Path) -> Result<BTreeMap<String, i64>, BoxError> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE customers(
             id INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             email TEXT NOT NULL UNIQUE
         );
         CREATE TABLE orders(
             id INTEGER PRIMARY KEY,
             customer_id INTEGER NOT NULL REFERENCES customers(id),
             amount_cents INTEGER NOT NULL,
             status TEXT NOT NULL
         );
         CREATE INDEX orders_by_customer ON orders(customer_id);",
    )?;
    let tx = conn.transaction()?;
    {
        let mut customer =
            tx.prepare("INSERT INTO customers(id, name, email) VALUES (?1, ?2, ?3)")?;
        for id in 1..=50_i64 {
            customer.execute((id, format!("Customer {id}"), format!("c{id}@example.com")))?;
        }
        let mut order = tx
            .prepare("INSERT INTO orders(customer_id, amount_cents, status) VALUES (?1, ?2, ?3)")?;
        for n in 0..400_i64 {
            let status = ["paid", "shipped", "refunded"][(n % 3) as usize];
            order.execute((n % 50 + 1, 500 + (n * 37) % 20_000, status))?;
        }
    }
    tx.commit()?;
    Ok(count_rows(&conn)?)
}

/// The row count of every user table.
fn count_rows(conn: &Connection) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut statement = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )?;
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut counts = BTreeMap::new();
    for name in names {
        let sql = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
        counts.insert(name, conn.query_row(&sql, [], |row| row.get(0))?);
    }
    Ok(counts)
}

/// `customers: 50 rows, orders: 400 rows`.
fn describe_counts(counts: &BTreeMap<String, i64>) -> String {
    counts
        .iter()
        .map(|(table, rows)| format!("{table}: {rows} rows"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A path as a TOML basic string (quoted and escaped).
fn toml_string(path: &Path) -> Result<String, BoxError> {
    let text = path
        .to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))?;
    Ok(toml::Value::String(text.to_owned()).to_string())
}
