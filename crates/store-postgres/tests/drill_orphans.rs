//! Scratch databases of drills killed outright: the next drill drops those whose drill is
//! provably gone, and nothing else — not a running drill's, not another host's fresh one, not
//! a user's database with a similar name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use backup_core::scratch_name;
use common::*;
use lifeboat_testing::postgres::psql;
use store_postgres::{PostgresDrill, PostgresOptions, PostgresSource};

const PREFIX: &str = "lifeboat_verify_";

/// A scratch name as `new_name` makes it, with its fields replaced.
fn name_with(host_boot: Option<&str>, pid: u32, random: &str) -> String {
    let fresh = scratch_name::new_name(PREFIX);
    let parts: Vec<&str> = fresh[PREFIX.len()..].split('_').collect();
    format!(
        "{PREFIX}{}_{}_{pid}_{random}",
        parts[0],
        host_boot.unwrap_or(parts[1])
    )
}

fn create(name: &str) -> TestDb {
    psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    TestDb { name: name.into() }
}

#[tokio::test]
async fn the_next_drill_drops_scratch_databases_of_dead_drills_only() {
    let Some(db) = TestDb::create("drill_orphans") else {
        return;
    };
    db.execute("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 100);")
        .await;
    let options = PostgresOptions::from_url(db.url());
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();

    // Left by a drill whose process is gone (no such pid), one of a bundle's parts too.
    let dead = create(&name_with(None, 4_000_000_000, "dead01"));
    let dead_part = create(&format!("{}_2", name_with(None, 4_000_000_000, "dead02")));
    // A drill still running (this process).
    let running = create(&name_with(None, std::process::id(), "live01"));
    // Another host's, fresh: its drill may run.
    let foreign = create(&name_with(Some("0123456789"), 4_000_000_000, "far001"));
    // Users' databases that merely look alike.
    let users = [
        create("lifeboat_verify_orders"),
        create(&format!("{}x", name_with(None, 4_000_000_000, "dead03"))),
    ];

    check(&sink, &manifest, &PostgresDrill::new(&options).unwrap())
        .await
        .unwrap();
    assert!(!database_exists(&dead.name), "{} was left", dead.name);
    assert!(
        !database_exists(&dead_part.name),
        "{} was left",
        dead_part.name
    );
    for kept in [&running, &foreign, &users[0], &users[1]] {
        assert!(database_exists(&kept.name), "{} was dropped", kept.name);
    }
}
