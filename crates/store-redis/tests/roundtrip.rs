//! Round trips through both modes against private redis-servers: every type and encoding,
//! binary keys, TTLs; the offline check; the drill; refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use backup_core::{FormatCheck, RestoreOptions, Source, StoreErrorKind, Target};
use common::*;
use fred::prelude::ClientLike;
use store_redis::{Mode, RedisCheck, RedisDrill, RedisOptions, RedisSource, RedisTarget};

async fn backup(url: &str, mode: Mode) -> (Vec<u8>, serde_json::Value) {
    let mut o = RedisOptions::from_url(url);
    o.mode = mode;
    let source = RedisSource::new(o).unwrap();
    let pre = source.preflight().await.unwrap();
    assert!(pre
        .version
        .unwrap()
        .starts_with(|c: char| c.is_ascii_digit()));
    let mut dump = Vec::new();
    let meta = source.backup(&mut dump).await.map(|d| d.metadata).unwrap();
    (dump, meta)
}

async fn restore(
    source_url: &str,
    to: &str,
    dump: &[u8],
    m: &backup_core::Manifest,
    o: RestoreOptions,
) -> Result<backup_core::Report, backup_core::StoreError> {
    let t = RedisTarget::new(&RedisOptions::from_url(source_url), Some(to)).unwrap();
    t.prepare(m, &o).await?;
    let mut input = dump;
    t.restore(&mut input, m, &o).await
}

async fn round_trip(mode: Mode, format: &str, server_args: &[&str]) {
    let Some(src) = TestRedis::start(server_args).await else {
        return;
    };
    let c = client(&src.url()).await;
    let keys = populate(&c).await;
    let _ = c.quit().await;
    let (dump, meta) = backup(&src.url(), mode).await;
    assert_eq!(meta["keys"], keys, "{meta}");
    assert_eq!(meta["keys_per_db"]["3"], 101);
    assert_eq!(meta["point_in_time"], mode == Mode::Rdb);
    assert_eq!(meta["server"]["role"], "master");
    if mode == Mode::Rdb {
        assert_eq!(meta["diskless"], false, "{meta}");
        assert_eq!(meta["checksum_verified"], true);
    }
    let m = manifest(format, meta.clone());

    // The offline check parses it and agrees with the manifest.
    let report = RedisCheck::new().check(&mut &dump[..], &m).await.unwrap();
    assert_eq!(report.details["keys"], keys);
    assert_eq!(report.details["digest"], meta["digest"]);

    // Restore into a fresh server: same data.
    let dst = TestRedis::start(&[]).await.unwrap();
    let report = restore(&src.url(), &dst.url(), &dump, &m, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.details["keys"], keys);
    assert_same(
        &fingerprint(&src.url()).await,
        &fingerprint(&dst.url()).await,
    );

    // Again without --force: refused, unchanged; dry run: conflicts counted; --force: ok.
    let before = fingerprint(&dst.url()).await;
    let err = restore(&src.url(), &dst.url(), &dump, &m, RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty, "{err}");
    let dry = RestoreOptions {
        force: false,
        dry_run: true,
    };
    let report = restore(&src.url(), &dst.url(), &dump, &m, dry)
        .await
        .unwrap();
    assert_eq!(report.details["conflicts"], keys, "{}", report.summary);
    assert_same(&before, &fingerprint(&dst.url()).await);
    let force = RestoreOptions {
        force: true,
        dry_run: false,
    };
    restore(&src.url(), &dst.url(), &dump, &m, force)
        .await
        .unwrap();
    assert_same(&before, &fingerprint(&dst.url()).await);

    // The drill restores into its own scratch server and agrees.
    let drill = RedisDrill::new(&RedisOptions::from_url(src.url())).unwrap();
    let report = drill.check(&mut &dump[..], &m).await.unwrap();
    assert_eq!(report.details["keys"], keys, "{}", report.summary);
    assert!(report.details["restore_ms"].is_u64());

    // A manifest that disagrees is an integrity failure.
    let mut bad = meta.clone();
    bad["keys_per_db"]["3"] = 100.into();
    let err = RedisCheck::new()
        .check(&mut &dump[..], &manifest(format, bad.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    let err = drill
        .check(&mut &dump[..], &manifest(format, bad))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);

    // A truncated dump fails the check and the restore.
    let cut = &dump[..dump.len() - 20];
    assert!(RedisCheck::new().check(&mut &cut[..], &m).await.is_err());
    let dst2 = TestRedis::start(&[]).await.unwrap();
    assert!(
        restore(&src.url(), &dst2.url(), cut, &m, RestoreOptions::default())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdb_round_trip() {
    // Disk-based replication: the snapshot arrives as a sized bulk (`$<len>`); the diskless
    // `EOF:<mark>` form is covered by `diskless_snapshot_and_file_restore`.
    round_trip(Mode::Rdb, "rdb", &["--repl-diskless-sync", "no"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_round_trip() {
    round_trip(Mode::Logical, "redis-logical", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diskless_snapshot_and_file_restore() {
    let Some(src) = TestRedis::start(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ])
    .await
    else {
        return;
    };
    let c = client(&src.url()).await;
    populate(&c).await;
    let _ = c.quit().await;
    let (dump, meta) = backup(&src.url(), Mode::Rdb).await;
    assert_eq!(meta["diskless"], true);
    assert_eq!(meta["checksum_verified"], true);
    let m = manifest("rdb", meta);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.rdb");
    let p = path.to_str().unwrap();
    restore(&src.url(), p, &dump, &m, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), dump);
    // An existing file is refused without --force.
    let err = restore(&src.url(), p, &dump, &m, RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty);
    // The file loads in a server.
    let loaded = TestRedis::start(&[
        "--dir",
        dir.path().to_str().unwrap(),
        "--dbfilename",
        "dump.rdb",
    ])
    .await
    .unwrap();
    assert_same(
        &fingerprint(&src.url()).await,
        &fingerprint(&loaded.url()).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdb_restore_into_older_rdb_version_is_a_clear_error() {
    let Some(dst) = TestRedis::start(&[]).await else {
        return;
    };
    // A hand-made RDB version 12 (Redis 7.4) snapshot holding one string.
    let mut rdb = b"REDIS0012".to_vec();
    rdb.extend_from_slice(&[0xFE, 0, 0, 1, b'k', 1, b'v', 0xFF]);
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&rdb);
    rdb.extend_from_slice(&crc.to_le_bytes());
    let m = manifest("rdb", serde_json::json!({"server": {"version": "7.4.1"}}));
    let err = restore(&dst.url(), &dst.url(), &rdb, &m, RestoreOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("7.4.1") && err.contains("RDB version 12"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_skipped() {
    let Some(src) = TestRedis::start(&["--repl-diskless-sync-delay", "0"]).await else {
        return;
    };
    let c = client(&src.url()).await;
    cmd(&c, "SET", vec![s("soon"), s("x"), s("PX"), 1500.into()]).await;
    cmd(&c, "SET", vec![s("stays"), s("y")]).await;
    let _ = c.quit().await;
    for (mode, format) in [(Mode::Rdb, "rdb"), (Mode::Logical, "redis-logical")] {
        let (dump, meta) = backup(&src.url(), mode).await;
        assert_eq!(meta["keys"], 2);
        tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
        let dst = TestRedis::start(&[]).await.unwrap();
        let report = restore(
            &src.url(),
            &dst.url(),
            &dump,
            &manifest(format, meta),
            RestoreOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(report.details["keys"], 1);
        assert_eq!(report.details["expired_skipped"], 1);
        if mode == Mode::Rdb {
            // Put the key back for the logical pass.
            let c = client(&src.url()).await;
            cmd(&c, "SET", vec![s("soon"), s("x"), s("PX"), 1500.into()]).await;
            let _ = c.quit().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_written_on_the_target_during_the_restore_is_a_clear_error() {
    let Some(src) = TestRedis::start(&[]).await else {
        return;
    };
    let c = client(&src.url()).await;
    for k in ["a", "b", "c"] {
        cmd(&c, "SET", vec![s(k), s("v")]).await;
    }
    let _ = c.quit().await;
    let (dump, meta) = backup(&src.url(), Mode::Logical).await;
    let m = manifest("redis-logical", meta);
    let dst = TestRedis::start(&[]).await.unwrap();
    let t = RedisTarget::new(&RedisOptions::from_url(src.url()), Some(&dst.url())).unwrap();
    let o = RestoreOptions::default();
    t.prepare(&m, &o).await.unwrap();
    // Someone writes `b` between prepare and restore.
    let c = client(&dst.url()).await;
    cmd(&c, "SET", vec![s("b"), s("theirs")]).await;
    let err = t
        .restore(&mut &dump[..], &m, &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("key b in db 0 already exists"), "{err}");
    // Their value is untouched.
    assert_eq!(
        cmd(&c, "GET", vec![s("b")]).await.as_str().unwrap(),
        "theirs"
    );
    let _ = c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_has_every_db_of_a_source_with_more_than_16() {
    let Some(src) =
        TestRedis::start(&["--databases", "32", "--repl-diskless-sync-delay", "0"]).await
    else {
        return;
    };
    let c = client(&src.url()).await;
    cmd(&c, "SELECT", vec![20.into()]).await;
    cmd(&c, "SET", vec![s("in-db-20"), s("v")]).await;
    let _ = c.quit().await;
    let (dump, meta) = backup(&src.url(), Mode::Rdb).await;
    assert_eq!(meta["keys_per_db"]["20"], 1, "{meta}");
    let drill = RedisDrill::new(&RedisOptions::from_url(src.url())).unwrap();
    let report = drill
        .check(&mut &dump[..], &manifest("rdb", meta))
        .await
        .unwrap();
    assert_eq!(report.details["keys_per_db"]["20"], 1, "{}", report.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_the_server_refuses_never_show_in_errors() {
    let Some(locked) = TestRedis::start(&["--requirepass", "right-pw-k4"]).await else {
        return;
    };
    let open = TestRedis::start(&[]).await.unwrap();
    let m = manifest("redis-logical", serde_json::json!({}));
    let dump = {
        let mut d = b"lifeboat-redis-logical 1\n".to_vec();
        d.push(b'E');
        d.extend_from_slice(&0u64.to_be_bytes());
        d
    };
    let url = |port: u16| format!("redis://:wrong-pw-k4@127.0.0.1:{port}");
    // A wrong password (WRONGPASS), on the command connection and on the raw one; and a
    // password for a server without one (an error reply to AUTH, but no WRONGPASS).
    for (port, auth) in [(locked.port(), true), (open.port(), false)] {
        // (fred ignores that answer of a server without a password.)
        let source = RedisSource::new(RedisOptions::from_url(url(port))).unwrap();
        let preflight = source.preflight().await;
        assert_eq!(preflight.is_err(), auth);
        if let Err(err) = preflight {
            let err = err.to_string();
            assert!(err.contains("authentication failed"), "{err}");
            assert!(!err.contains("wrong-pw-k4"), "{err}");
        }
        // restore without prepare: straight to the raw connection's AUTH.
        let t = RedisTarget::new(&RedisOptions::from_url(url(port)), None).unwrap();
        let err = t
            .restore(&mut &dump[..], &m, &RestoreOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("authentication failed"), "{err}");
        assert!(!err.contains("wrong-pw-k4"), "{err}");
        if !auth {
            assert!(err.contains("without any password configured"), "{err}");
        }
    }
}
