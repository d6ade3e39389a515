//! Backups of a WAL-mode database that another connection keeps writing to are consistent.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backup_core::{RestoreOptions, Source, Target};
use rusqlite::Connection;
use store_sqlite::{SqliteSource, SqliteTarget};

const ACCOUNTS: i64 = 20;
const START_BALANCE: i64 = 1_000;

fn create(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE a(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, pad BLOB);
         CREATE TABLE b(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, pad BLOB);
         CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for id in 0..ACCOUNTS {
        tx.execute("INSERT INTO accounts VALUES (?1, ?2)", [id, START_BALANCE])
            .unwrap();
    }
    // Enough pages that copying takes a while and overlaps with the writer.
    for n in 0..3_000i64 {
        tx.execute("INSERT INTO a(n, pad) VALUES (?1, randomblob(300))", [n])
            .unwrap();
        tx.execute("INSERT INTO b(n, pad) VALUES (?1, randomblob(300))", [n])
            .unwrap();
    }
    tx.commit().unwrap();
}

/// Each transaction adds one row to `a` and one to `b` and moves money between two accounts:
/// count(a) = count(b) and the total balance never changes, in every committed state.
fn writer(path: &Path, stop: &AtomicBool, commits: &AtomicU64) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mut n: i64 = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let from = n % ACCOUNTS;
        let to = (n * 7 + 3) % ACCOUNTS;
        let amount = n % 50;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("INSERT INTO a(n, pad) VALUES (?1, randomblob(300))", [n])?;
        tx.execute(
            "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2",
            [amount, from],
        )?;
        tx.execute(
            "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2",
            [amount, to],
        )?;
        tx.execute("INSERT INTO b(n, pad) VALUES (?1, randomblob(300))", [n])?;
        tx.commit()?;
        commits.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_under_concurrent_writes_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    create(&db);

    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let handle = {
        let (db, stop, commits) = (db.clone(), Arc::clone(&stop), Arc::clone(&commits));
        std::thread::spawn(move || writer(&db, &stop, &commits))
    };
    // Let the writer get going.
    while commits.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let source = SqliteSource::new(&db);
    let mut seen_counts = Vec::new();
    let mut overlapped = 0;
    for round in 0..6 {
        let before = commits.load(Ordering::SeqCst);
        let mut dump = Vec::new();
        let metadata = source.backup(&mut dump).await.map(|d| d.metadata).unwrap();
        if commits.load(Ordering::SeqCst) > before {
            overlapped += 1;
        }
        assert_eq!(metadata["size_bytes"].as_u64().unwrap(), dump.len() as u64);

        let target_path = dir.path().join(format!("restored-{round}.db"));
        let target = SqliteTarget::new(&target_path);
        let manifest = common::manifest(metadata.clone());
        target
            .prepare(&manifest, &RestoreOptions::default())
            .await
            .unwrap();
        let report = target
            .restore(&mut &dump[..], &manifest, &RestoreOptions::default())
            .await
            .unwrap();
        assert_eq!(report.details["integrity_check"], "ok");
        assert_eq!(report.details["row_counts_checked"], true);

        let conn = Connection::open(&target_path).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        let a = common::count(&target_path, "a");
        let b = common::count(&target_path, "b");
        assert_eq!(a, b, "round {round}: a and b out of step");
        let total: i64 = conn
            .query_row("SELECT sum(balance) FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            total,
            ACCOUNTS * START_BALANCE,
            "round {round}: money leaked"
        );
        assert_eq!(metadata["tables"]["a"].as_u64().unwrap(), a);
        assert_eq!(metadata["tables"]["b"].as_u64().unwrap(), b);
        assert_eq!(
            metadata["tables"]["accounts"].as_u64().unwrap(),
            ACCOUNTS as u64
        );
        seen_counts.push(a);

        // Make sure the writer commits between (and during) backups.
        while commits.load(Ordering::SeqCst) < before + 20 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap().unwrap();

    // The writer committed while backups ran (WAL readers do not block writers).
    eprintln!("{overlapped} of 6 backups overlapped with commits");
    assert!(overlapped > 0, "no backup overlapped with a commit");
    // Every backup saw a later state than the one before: the writer was never blocked out.
    assert!(
        seen_counts.windows(2).all(|w| w[0] < w[1]),
        "counts did not grow: {seen_counts:?}"
    );
}
