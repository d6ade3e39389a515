//! The Source contract when pg_dump misbehaves: an empty dump, a non-zero exit after some
//! output (its stderr in the error), and a backup abandoned while pg_dump runs (pg_dump killed,
//! the snapshot transaction closed: nothing left connected to the database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use backup_core::Source;
use common::*;
use lifeboat_testing::REAL_VERSION;
use store_postgres::{PostgresOptions, PostgresSource};

const DATA: &str = "CREATE TABLE items(id int PRIMARY KEY, body text); \
    INSERT INTO items SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 30000) g;";

/// A `pg_dump` in `dir` that answers `--version` like the real one and otherwise runs `body`
/// (`$REAL` is the real pg_dump).
fn fake_pg_dump(dir: &Path, body: &str) {
    lifeboat_testing::fake_tool(dir, "pg_dump", &format!("{REAL_VERSION}\n{body}"));
}

#[tokio::test]
async fn an_empty_dump_and_a_failing_pg_dump_fail_the_backup_without_a_manifest() {
    let Some(db) = TestDb::create("fail_dump") else {
        return;
    };
    db.execute(DATA).await;
    let bin = tempfile::tempdir().unwrap();
    let mut options = PostgresOptions::from_url(db.url());
    options.bin_dir = Some(bin.path().to_path_buf());

    // Exit 0, no output.
    fake_pg_dump(bin.path(), "exit 0");
    let err = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("wrote no data"), "{err}");

    // Half a real dump, a message on stderr, exit 1.
    fake_pg_dump(
        bin.path(),
        "$REAL \"$@\" | head -c 50000\necho 'pg_dump: error: simulated disk trouble' >&2\nexit 1",
    );
    let sink = lifeboat_testing::MemorySink::new("memory");
    let transforms: Vec<Box<dyn backup_core::transform::Transform>> = Vec::new();
    let sinks: Vec<std::sync::Arc<dyn backup_core::Sink>> = vec![std::sync::Arc::new(sink.clone())];
    let source = PostgresSource::new(options.clone()).unwrap();
    let err = backup_core::pipeline::run_backup(backup_core::pipeline::BackupRequest {
        source_name: "pg",
        source: &source,
        transforms: &transforms,
        sinks: &sinks,
        size_hint: None,
        progress: None,
    })
    .await
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("simulated disk trouble") && err.contains("exit status: 1"),
        "{err}"
    );
    assert!(
        !sink.keys().iter().any(|k| k.ends_with("manifest.json")),
        "a failed backup left a manifest: {:?}",
        sink.keys()
    );
}

/// An output that never accepts a byte (a stalled upload).
struct Stalled;

impl tokio::io::AsyncWrite for Stalled {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Pending
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn an_abandoned_backup_kills_pg_dump_and_ends_the_snapshot() {
    let Some(db) = TestDb::create("abandoned") else {
        return;
    };
    db.execute(DATA).await;
    let source = PostgresSource::new(PostgresOptions::from_url(db.url())).unwrap();
    let admin = connect("postgres").await.unwrap();
    let sessions = || async {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&db.name],
            )
            .await
            .unwrap()
            .get(0);
        n
    };
    let mut out = Stalled;
    let mut backup = Box::pin(source.backup(&mut out));
    // pg_dump starts, fills its pipe and lifeboat's buffer, then waits on the stalled output.
    assert!(tokio::time::timeout(Duration::from_secs(3), &mut backup)
        .await
        .is_err());
    let running = sessions().await;
    assert!(
        running >= 2,
        "expected the snapshot's and pg_dump's sessions, found {running}"
    );
    drop(backup);
    // Dropped: pg_dump is killed, the snapshot's connection closes.
    let mut left = sessions().await;
    for _ in 0..50 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = sessions().await;
    }
    assert_eq!(
        left, 0,
        "sessions left on the database after the backup was dropped"
    );
}

/// A pg_dump that starts a dump and then goes silent (its server stopped answering) is given
/// up after `io_timeout`, instead of hanging the backup for ever.
#[tokio::test]
async fn a_pg_dump_that_goes_silent_fails_after_io_timeout() {
    let Some(db) = TestDb::create("silent_dump") else {
        return;
    };
    db.execute(DATA).await;
    let bin = tempfile::tempdir().unwrap();
    let mut options = PostgresOptions::from_url(db.url());
    options.bin_dir = Some(bin.path().to_path_buf());
    options.io_timeout = "1s".parse().unwrap();
    fake_pg_dump(bin.path(), "$REAL \"$@\" | head -c 50000\nexec sleep 600");

    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        backup(&PostgresSource::new(options).unwrap()),
    )
    .await
    .expect("the backup waited on a silent pg_dump past its io_timeout");
    let err = outcome.map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("no output for 1s"), "{err}");
    // The clock is only a sanity bound: the timeout is 1 s, the test allows a minute.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}
