//! The metadata a backup returns, the preflight, and source-side errors.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use backup_core::{Source, StoreErrorKind};
use rusqlite::Connection;
use store_sqlite::{SqliteMetadata, SqliteSource};

fn rich_db(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        r#"
        CREATE TABLE plain(id INTEGER PRIMARY KEY, v TEXT);
        INSERT INTO plain(v) VALUES ('a'), ('b'), ('c');
        CREATE TABLE "we""ird name"(x UNIQUE);
        INSERT INTO "we""ird name" VALUES (1), (2);
        CREATE TABLE counters(id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER);
        INSERT INTO counters(n) VALUES (10);
        CREATE TABLE sqlite3_notes(t TEXT) ;
        CREATE TABLE empty(x) ;
        CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
        INSERT INTO kv VALUES ('k1', 1), ('k2', 2), ('k3', 3), ('k4', 4);
        CREATE INDEX plain_v ON plain(v);
        CREATE INDEX counters_n ON counters(n);
        CREATE VIEW plain_view AS SELECT v FROM plain;
        CREATE TRIGGER plain_ins AFTER INSERT ON plain BEGIN UPDATE counters SET n = n + 1; END;
        CREATE VIRTUAL TABLE docs USING fts5(body);
        INSERT INTO docs VALUES ('hello world'), ('lifeboat');
        ANALYZE;
        PRAGMA user_version = 42;
        "#,
    )
    .unwrap();
}

#[tokio::test]
async fn metadata_describes_the_dump() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rich.db");
    rich_db(&db);
    let before = std::fs::read(&db).unwrap();
    let files_before = common::entries(dir.path());

    let source = SqliteSource::new(&db);
    assert_eq!(source.kind(), "sqlite");
    assert_eq!(source.dump_format(), "sqlite-db");
    assert_eq!(source.extension(), "db");

    let (dump, json) = common::backup(&db).await;
    let metadata: SqliteMetadata = serde_json::from_value(json.clone()).unwrap();

    // The exact shape of the JSON.
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "indexes",
            "page_count",
            "page_size",
            "size_bytes",
            "sqlite_version",
            "tables",
            "triggers",
            "user_version",
            "views",
            "virtual_tables"
        ]
    );

    assert_eq!(metadata.user_version, 42);
    assert_eq!(metadata.size_bytes, dump.len() as u64);
    assert_eq!(
        metadata.page_size * metadata.page_count,
        metadata.size_bytes
    );
    assert_eq!(metadata.sqlite_version, rusqlite::version());
    assert_eq!(metadata.indexes, 2, "autoindexes are not counted");
    assert_eq!(metadata.views, 1);
    assert_eq!(metadata.triggers, 1);
    assert_eq!(metadata.virtual_tables, 1);

    let t = &metadata.tables;
    assert_eq!(t["plain"], 3);
    assert_eq!(t["we\"ird name"], 2);
    assert_eq!(t["counters"], 1);
    assert_eq!(
        t["sqlite3_notes"], 0,
        "only sqlite_ (with underscore) is internal"
    );
    assert_eq!(t["empty"], 0);
    assert_eq!(t["kv"], 4);
    assert_eq!(t["docs_content"], 2, "FTS5 shadow tables are counted");
    assert!(!t.contains_key("docs"), "virtual tables are not counted");
    assert!(
        t.keys().all(|name| !name.starts_with("sqlite_")),
        "internal tables leaked: {t:?}"
    );

    // Every table count equals a direct count on the source.
    let conn = Connection::open(&db).unwrap();
    let direct: BTreeMap<String, u64> = t
        .keys()
        .map(|name| {
            let q = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
            let n: i64 = conn.query_row(&q, [], |r| r.get(0)).unwrap();
            (name.clone(), n as u64)
        })
        .collect();
    assert_eq!(&direct, t);
    drop(conn);

    // The backup neither changed the source nor left files beside it.
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert_eq!(common::entries(dir.path()), files_before);
}

#[tokio::test]
async fn preflight_reports_version_size_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rich.db");
    rich_db(&db);
    let preflight = SqliteSource::new(&db).preflight().await.unwrap();
    assert_eq!(preflight.version.as_deref(), Some(rusqlite::version()));
    let size = std::fs::metadata(&db).unwrap().len();
    assert_eq!(preflight.estimated_bytes, Some(size));
    assert_eq!(preflight.details["journal_mode"], "delete");
    assert_eq!(preflight.details["user_version"], 42);
}

#[tokio::test]
async fn the_snapshot_temp_dir_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    common::make_db(&db, 50);
    let scratch = tempfile::tempdir().unwrap();
    let source = SqliteSource::new(&db).with_temp_dir(scratch.path());

    let mut dump = Vec::new();
    source.backup(&mut dump).await.map(|d| d.metadata).unwrap();
    assert!(common::entries(scratch.path()).is_empty());

    // Also when the backup fails: an output that refuses writes.
    let mut broken = FailingWriter;
    let err = source
        .backup(&mut broken)
        .await
        .map(|d| d.metadata)
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Failed);
    assert!(common::entries(scratch.path()).is_empty());
}

#[tokio::test]
async fn the_scratch_copy_of_a_killed_run_is_collected_by_the_next_backup() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    common::make_db(&db, 50);
    let scratch = tempfile::tempdir().unwrap();
    // What a `kill -9` during the copy leaves: its folder, named with its (now dead) pid —
    // one above the kernel's pid limit, so never alive.
    let stale = scratch.path().join("lifeboat-sqlite-4194999-Ab12cd");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("snapshot.db"), vec![0u8; 4096]).unwrap();
    // Another program's folder is not ours to remove.
    let other = scratch.path().join("lifeboat-unrelated");
    std::fs::create_dir(&other).unwrap();

    let source = SqliteSource::new(&db).with_temp_dir(scratch.path());
    let mut dump = Vec::new();
    source.backup(&mut dump).await.map(|d| d.metadata).unwrap();
    assert!(!stale.exists(), "the stale scratch copy is still there");
    assert_eq!(common::entries(scratch.path()).len(), 1);
    assert!(other.exists());
}

#[tokio::test]
async fn missing_source_is_a_config_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nope.db");
    let source = SqliteSource::new(&db);

    let err = source.preflight().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains(&db.display().to_string()), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");

    let mut dump = Vec::new();
    let err = source
        .backup(&mut dump)
        .await
        .map(|d| d.metadata)
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains(&db.display().to_string()), "{err}");
    assert!(dump.is_empty());

    assert!(!db.exists(), "the source was created");
    assert!(common::entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "just some text, long enough to not be an empty database file ......................................................................").unwrap();
    let source = SqliteSource::new(&path);

    let err = source.preflight().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains("not a SQLite database"), "{err}");

    let mut dump = Vec::new();
    let err = source
        .backup(&mut dump)
        .await
        .map(|d| d.metadata)
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(dump.is_empty());
}

/// An AsyncWrite whose every write fails.
struct FailingWriter;

impl tokio::io::AsyncWrite for FailingWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Err(std::io::Error::other("sink closed")))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
