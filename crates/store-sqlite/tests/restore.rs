//! Restores: round trip, refusal without --force, stale WAL removal, corrupt and failing
//! streams, and the verify check.
#![allow(clippy::unwrap_used)]

mod common;

use std::io;
use std::path::Path;

use backup_core::pipeline::{run_check, run_restore, RestoreRequest};
use backup_core::transform::Keyring;
use backup_core::{ErrorClass, FormatCheck, RestoreOptions, StoreErrorKind, Target};
use common::{backup, entries, make_db, manifest, FailingReader};
use lifeboat_testing::MemorySink;
use rusqlite::Connection;
use store_sqlite::{SqliteCheck, SqliteTarget};

const FORCE: RestoreOptions = RestoreOptions {
    force: true,
    dry_run: false,
};
const NO_FORCE: RestoreOptions = RestoreOptions {
    force: false,
    dry_run: false,
};

/// A backup of a fresh database with `rows` rows in each table.
async fn sample(rows: usize) -> (Vec<u8>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    make_db(&db, rows);
    backup(&db).await
}

fn integrity(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn round_trip_restores_the_exact_bytes() {
    let (dump, metadata) = sample(1_234).await;
    let dir = tempfile::tempdir().unwrap();
    // A parent directory that does not exist yet is created.
    let path = dir.path().join("restored").join("app.db");
    let target = SqliteTarget::new(&path);
    let m = manifest(metadata);

    target.prepare(&m, &NO_FORCE).await.unwrap();
    let report = target.restore(&mut &dump[..], &m, &NO_FORCE).await.unwrap();

    assert_eq!(std::fs::read(&path).unwrap(), dump);
    assert_eq!(
        report.summary,
        format!("restored 2 tables (2,468 rows) to {}", path.display())
    );
    assert_eq!(report.details["tables"]["items"], 1_234);
    assert_eq!(report.details["replaced"], false);
    assert_eq!(entries(path.parent().unwrap()), ["app.db"]);
    assert_eq!(integrity(&path), "ok");
    assert_eq!(common::count(&path, "tags"), 1_234);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "restored file mode {mode:o}");
        let mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "created directory mode {mode:o}");
    }
}

#[tokio::test]
async fn refuses_an_existing_target_without_force() {
    let (dump, metadata) = sample(10).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    make_db(&path, 3);
    let original = std::fs::read(&path).unwrap();
    let target = SqliteTarget::new(&path);
    let m = manifest(metadata);

    let err = target.prepare(&m, &NO_FORCE).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty);
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("--force"), "{message}");

    // Even if the caller skips prepare, restore refuses too.
    let err = target
        .restore(&mut &dump[..], &m, &NO_FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty);

    assert_eq!(std::fs::read(&path).unwrap(), original);
    assert_eq!(entries(dir.path()), ["app.db"]);
}

#[tokio::test]
async fn refuses_a_leftover_wal_beside_a_missing_target() {
    let (dump, metadata) = sample(10).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    std::fs::write(dir.path().join("app.db-wal"), b"old wal").unwrap();
    let target = SqliteTarget::new(&path);
    let m = manifest(metadata);

    let err = target.prepare(&m, &NO_FORCE).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty);
    assert!(err.to_string().contains("app.db-wal"), "{err}");
    let err = target
        .restore(&mut &dump[..], &m, &NO_FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty);
    assert_eq!(entries(dir.path()), ["app.db-wal"]);
}

#[tokio::test]
async fn force_replaces_the_target_and_removes_its_stale_wal() {
    let (dump, metadata) = sample(25).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");

    // An old WAL-mode database whose recent commits are still only in its -wal file: copy the
    // files while its connection is open, as a crashed application would leave them.
    let old = dir.path().join("old.db");
    let conn = Connection::open(&old).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO items(name) SELECT 'old' FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) SELECT x FROM c);",
    )
    .unwrap();
    std::fs::copy(&old, &path).unwrap();
    std::fs::copy(dir.path().join("old.db-wal"), dir.path().join("app.db-wal")).unwrap();
    std::fs::copy(dir.path().join("old.db-shm"), dir.path().join("app.db-shm")).unwrap();
    drop(conn);
    std::fs::remove_file(&old).unwrap();
    assert!(
        std::fs::metadata(dir.path().join("app.db-wal"))
            .unwrap()
            .len()
            > 0
    );

    let target = SqliteTarget::new(&path);
    let m = manifest(metadata);
    target.prepare(&m, &FORCE).await.unwrap();
    let report = target.restore(&mut &dump[..], &m, &FORCE).await.unwrap();

    assert_eq!(std::fs::read(&path).unwrap(), dump);
    // Had the old WAL stayed, opening the restored file would replay it into the new data.
    assert_eq!(common::count(&path, "items"), 25);
    assert_eq!(integrity(&path), "ok");
    assert_eq!(entries(dir.path()), ["app.db"]);
    assert_eq!(report.details["replaced"], true);
    assert_eq!(
        report.details["removed_stale_files"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// Flips 16 bytes at the start of the page in the middle of the file (a b-tree page header).
fn flip_middle(dump: &[u8], page_size: usize) -> Vec<u8> {
    let mut bad = dump.to_vec();
    let pages = bad.len() / page_size;
    let start = (pages / 2) * page_size;
    for byte in &mut bad[start..start + 16] {
        *byte ^= 0xA5;
    }
    bad
}

/// Restores `stream` over an existing target with --force and over a missing one; both must
/// fail with `kind` and leave the directory as it was.
async fn assert_rejected(stream: &[u8], metadata: serde_json::Value, kind: StoreErrorKind) {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("existing.db");
    make_db(&existing, 3);
    std::fs::write(dir.path().join("existing.db-wal"), b"keep me").unwrap();
    let original = std::fs::read(&existing).unwrap();
    let before = entries(dir.path());
    let m = manifest(metadata);

    let target = SqliteTarget::new(&existing);
    let err = target
        .restore(&mut &stream[..], &m, &FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(
        std::fs::read(&existing).unwrap(),
        original,
        "target changed"
    );
    assert_eq!(
        std::fs::read(dir.path().join("existing.db-wal")).unwrap(),
        b"keep me"
    );
    assert_eq!(entries(dir.path()), before, "leftover files");

    let missing = dir.path().join("new.db");
    let err = SqliteTarget::new(&missing)
        .restore(&mut &stream[..], &m, &NO_FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(entries(dir.path()), before, "leftover files");
}

#[tokio::test]
async fn flipped_bytes_are_corrupt() {
    let (dump, metadata) = sample(400).await;
    let page_size = metadata["page_size"].as_u64().unwrap() as usize;
    let bad = flip_middle(&dump, page_size);
    assert_rejected(&bad, metadata.clone(), StoreErrorKind::Corrupt).await;

    // And the same without any manifest metadata: integrity_check alone catches it.
    assert_rejected(&bad, serde_json::Value::Null, StoreErrorKind::Corrupt).await;
}

#[tokio::test]
async fn truncated_streams_are_corrupt() {
    let (dump, metadata) = sample(400).await;
    let half = &dump[..dump.len() / 2];
    // Caught by the size in the manifest...
    assert_rejected(half, metadata.clone(), StoreErrorKind::Corrupt).await;
    // ...and by SQLite itself when the manifest has no size.
    assert_rejected(half, serde_json::Value::Null, StoreErrorKind::Corrupt).await;
    // Not even a header.
    assert_rejected(&dump[..10], metadata.clone(), StoreErrorKind::Corrupt).await;
    assert_rejected(&[], metadata.clone(), StoreErrorKind::Corrupt).await;
    assert_rejected(b"PGDMP not sqlite", metadata, StoreErrorKind::Corrupt).await;
}

#[tokio::test]
async fn row_counts_must_match_the_manifest() {
    let (dump, mut metadata) = sample(10).await;
    metadata["tables"]["items"] = 999.into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let err = SqliteTarget::new(&path)
        .restore(&mut &dump[..], &manifest(metadata.clone()), &NO_FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    let message = err.to_string();
    assert!(message.contains("`items`"), "{message}");
    assert!(message.contains("999"), "{message}");
    assert!(message.contains("10 rows"), "{message}");
    assert!(entries(dir.path()).is_empty());

    // A table the manifest does not know is a mismatch too.
    let (dump, mut metadata) = sample(10).await;
    metadata["tables"].as_object_mut().unwrap().remove("tags");
    assert_rejected(&dump, metadata, StoreErrorKind::Corrupt).await;
}

#[tokio::test]
async fn a_stream_failing_midway_changes_nothing() {
    let (dump, metadata) = sample(400).await;
    let half = dump.len() / 2;

    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("app.db");
    make_db(&existing, 3);
    let original = std::fs::read(&existing).unwrap();
    let m = manifest(metadata);

    let mut input = FailingReader::new(dump.clone(), half, io::ErrorKind::ConnectionReset);
    let err = SqliteTarget::new(&existing)
        .restore(&mut input, &m, &FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Failed, "{err}");
    assert!(err.to_string().contains("injected read failure"), "{err}");
    assert_eq!(std::fs::read(&existing).unwrap(), original);
    assert_eq!(entries(dir.path()), ["app.db"]);

    // An InvalidData error is how the pipeline reports a bad artifact (checksum, decryption).
    let mut input = FailingReader::new(dump, half, io::ErrorKind::InvalidData);
    let err = SqliteTarget::new(dir.path().join("new.db"))
        .restore(&mut input, &m, &NO_FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    assert_eq!(entries(dir.path()), ["app.db"]);
}

#[tokio::test]
async fn a_directory_or_another_format_is_a_config_error() {
    let (_, metadata) = sample(1).await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(metadata);
    let err = SqliteTarget::new(dir.path())
        .prepare(&m, &FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);

    // The pipeline refuses another format before reading a byte: the storage does not even
    // hold the backup's data, which reading would report instead.
    let mut other = m.clone();
    other.dump_format = "pg_dump-custom".to_string();
    let storage = MemorySink::new("memory");
    let keyring = Keyring::new();
    let request = RestoreRequest {
        sink: &storage,
        manifest: &other,
        keyring: &keyring,
        progress: None,
    };
    let err = run_restore(
        &request,
        &SqliteTarget::new(dir.path().join("x.db")),
        &FORCE,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, backup_core::Error::UnsupportedDumpFormat { .. }),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Config);
    let err = run_check(&request, &SqliteCheck::new()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Config, "{err}");
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn check_accepts_a_good_stream_and_rejects_a_bad_one() {
    let (dump, metadata) = sample(300).await;
    let page_size = metadata["page_size"].as_u64().unwrap() as usize;
    let scratch = tempfile::tempdir().unwrap();
    let check = SqliteCheck::new().with_temp_dir(scratch.path());
    let m = manifest(metadata.clone());

    let report = check.check(&mut &dump[..], &m).await.unwrap();
    assert_eq!(
        report.summary,
        "sqlite-db: integrity_check ok, 2 tables (600 rows) match the manifest"
    );
    assert_eq!(report.details["row_counts_checked"], true);
    assert_eq!(report.details["bytes"], dump.len());
    assert!(entries(scratch.path()).is_empty());

    let bad = flip_middle(&dump, page_size);
    let err = check.check(&mut &bad[..], &m).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    assert!(entries(scratch.path()).is_empty());

    let mut failing = FailingReader::new(dump, 5_000, io::ErrorKind::InvalidData);
    let err = check.check(&mut failing, &m).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    assert!(entries(scratch.path()).is_empty());
}

#[tokio::test]
async fn integrity_check_messages_are_reported() {
    // An index that does not match its table: readable, right row counts, but unsound.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad-index.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t(x, y); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');
             CREATE INDEX i ON t(x);
             PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = 'CREATE INDEX i ON t(y)' WHERE name = 'i';",
        )
        .unwrap();
    let (dump, metadata) = backup(&db).await;
    assert_eq!(metadata["tables"]["t"], 3);

    let path = dir.path().join("restored.db");
    let err = SqliteTarget::new(&path)
        .restore(&mut &dump[..], &manifest(metadata), &NO_FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    assert!(err.to_string().contains("missing from index i"), "{err}");
    assert_eq!(entries(dir.path()), ["bad-index.db"]);
}
