//! A writer inserting during the backup: the manifest's counts describe exactly the dump.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use backup_core::RestoreOptions;
use common::*;
use store_postgres::{PostgresMetadata, PostgresOptions, PostgresSource, PostgresTarget};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_the_dump_while_a_writer_inserts() {
    let Some(db) = TestDb::create("consistency") else {
        return;
    };
    db.execute(
        "CREATE TABLE events(id bigserial PRIMARY KEY, body text); \
         CREATE TABLE totals(id int PRIMARY KEY, n bigint); INSERT INTO totals VALUES (1, 0); \
         INSERT INTO events(body) SELECT repeat('e', 200) FROM generate_series(1, 150000);",
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (client, stop, written) = (db.client().await, stop.clone(), written.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                // One transaction: both tables move together.
                client
                    .batch_execute(
                        "BEGIN; INSERT INTO events(body) VALUES ('live'); \
                         UPDATE totals SET n = n + 1; COMMIT;",
                    )
                    .await
                    .unwrap();
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while written.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let options = PostgresOptions::from_url(db.url());
    let at_start = written.load(Ordering::SeqCst);
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();
    let during = written.load(Ordering::SeqCst) - at_start;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(during > 0, "the writer made no progress during the backup");

    let meta = manifest.metadata_as::<PostgresMetadata>().unwrap();
    let events = meta.databases[0].tables["public.events"];
    assert!(events > 150_000);
    let copy = TestDb::named("consistency_copy");
    let target = PostgresTarget::new(&options, Some(&copy.url())).unwrap();
    // The restore itself fails on any difference with the manifest's counts.
    restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap();
    let client = copy.client().await;
    let restored: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    let total: i64 = client
        .query_one("SELECT n FROM totals", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(restored as u64, events);
    assert_eq!(
        total as u64,
        events - 150_000,
        "the two tables come from different moments"
    );
    let live: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    // Many commits landed between the snapshot and the end of the backup: counts taken
    // outside the snapshot (e.g. in their own transaction while or after pg_dump runs) would
    // differ from the dump, and the restore above would have failed.
    assert!(
        live as u64 >= events + 20,
        "only {} commits after the snapshot: the test did not exercise concurrency",
        live as u64 - events
    );
}
