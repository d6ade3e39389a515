//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;

use backup_core::{Manifest, Source};
use store_sqlite::SqliteSource;

/// A manifest as the pipeline would write it for a `sqlite-db` backup with `metadata`.
pub fn manifest(metadata: serde_json::Value) -> Manifest {
    lifeboat_testing::manifest("sqlite", "sqlite-db", metadata)
}

/// Backs up `path` into memory.
pub async fn backup(path: &Path) -> (Vec<u8>, serde_json::Value) {
    let mut dump = Vec::new();
    let metadata = SqliteSource::new(path)
        .backup(&mut dump)
        .await
        .map(|d| d.metadata)
        .unwrap();
    (dump, metadata)
}

/// A small database with a few tables; returns nothing, the file is at `path`.
pub fn make_db(path: &Path, rows: usize) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE tags(item INTEGER, tag TEXT);
         CREATE INDEX tags_item ON tags(item);
         PRAGMA user_version = 3;",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..rows {
        tx.execute(
            "INSERT INTO items(name) VALUES (printf('item %d %s', ?1, hex(randomblob(60))))",
            [i as i64],
        )
        .unwrap();
        tx.execute("INSERT INTO tags VALUES (?1, 'tag')", [i as i64])
            .unwrap();
    }
    tx.commit().unwrap();
}

/// The names in `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Row count of `table` in the database at `path`.
pub fn count(path: &Path, table: &str) -> u64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
    .unwrap()
}

#[allow(unused_imports)] // not every test binary uses it
pub use lifeboat_testing::FailingReader;
