//! Restore rules: non-empty targets refused without --force, a broken stream leaves nothing,
//! dry runs change nothing, bundles of several databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use backup_core::{RestoreOptions, StoreErrorKind};
use common::*;
use store_postgres::{
    DumpFormat, PostgresCheck, PostgresDrill, PostgresMetadata, PostgresOptions, PostgresSource,
    PostgresTarget,
};

const SMALL: &str = "CREATE TABLE items(id int PRIMARY KEY, body text); \
    INSERT INTO items SELECT g, repeat('x', g % 100) FROM generate_series(1, 20000) g; \
    CREATE SEQUENCE counter; SELECT setval('counter', 42);";

fn store_kind(err: &backup_core::Error) -> Option<StoreErrorKind> {
    match err {
        backup_core::Error::Target { error, .. } => Some(error.kind()),
        _ => None,
    }
}

#[tokio::test]
async fn non_empty_target_is_refused_and_unchanged_without_force() {
    let Some(db) = TestDb::create("refuse_src") else {
        return;
    };
    db.execute(SMALL).await;
    let options = PostgresOptions::from_url(db.url());
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();

    let other = TestDb::create("refuse_dst").unwrap();
    other
        .execute("CREATE TABLE keep(v text); INSERT INTO keep VALUES ('precious');")
        .await;
    let before = fingerprint(&other.client().await).await;
    let target = PostgresTarget::new(&options, Some(&other.url())).unwrap();
    let err = restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        store_kind(&err),
        Some(StoreErrorKind::TargetNotEmpty),
        "{err}"
    );
    assert!(err.to_string().contains("table public.keep"), "{err}");
    assert_eq!(before, fingerprint(&other.client().await).await);

    // The source's own database (the default target) is not empty either.
    let own = PostgresTarget::new(&options, None).unwrap();
    let err = restore(&sink, &manifest, &own, RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        store_kind(&err),
        Some(StoreErrorKind::TargetNotEmpty),
        "{err}"
    );

    // --force: pg_restore --clean --if-exists; tables of the backup replaced, others kept.
    other
        .execute("CREATE TABLE items(id int); INSERT INTO items VALUES (-1);")
        .await;
    let force = RestoreOptions {
        force: true,
        dry_run: false,
    };
    let report = restore(&sink, &manifest, &target, force).await.unwrap();
    assert_eq!(report.details["databases"][0]["cleaned"], true);
    let client = other.client().await;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 20000);
    let kept: String = client
        .query_one("SELECT v FROM keep", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, "precious");
}

#[tokio::test]
async fn plain_dump_cannot_force_over_data() {
    let Some(db) = TestDb::create("plain_force") else {
        return;
    };
    db.execute(SMALL).await;
    let mut options = PostgresOptions::from_url(db.url());
    options.format = DumpFormat::Plain;
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();
    let target = PostgresTarget::new(&options, None).unwrap();
    let force = RestoreOptions {
        force: true,
        dry_run: false,
    };
    let err = restore(&sink, &manifest, &target, force).await.unwrap_err();
    assert!(err.to_string().contains("plain SQL dump"), "{err}");
}

#[tokio::test]
async fn a_stream_broken_midway_leaves_nothing_behind() {
    let Some(db) = TestDb::create("broken_src") else {
        return;
    };
    db.execute(SMALL).await;
    for format in [DumpFormat::Custom, DumpFormat::Plain] {
        let mut options = PostgresOptions::from_url(db.url());
        options.format = format;
        let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
            .await
            .unwrap();
        let key = manifest.artifact.key.clone();
        let mut stored = sink.object(&key).unwrap().to_vec();
        stored.truncate(stored.len() * 2 / 3);
        sink.set_object(&key, stored);

        // A database the restore would create is gone again.
        let missing = TestDb::named("broken_new");
        let target = PostgresTarget::new(&options, Some(&missing.url())).unwrap();
        let err = restore(&sink, &manifest, &target, RestoreOptions::default()).await;
        assert!(err.is_err(), "{format:?}: a truncated backup restored");
        assert!(
            !database_exists(&missing.name),
            "{format:?}: left a database"
        );

        // An existing empty database stays empty (one transaction, rolled back).
        let empty = TestDb::create("broken_empty").unwrap();
        let target = PostgresTarget::new(&options, Some(&empty.url())).unwrap();
        assert!(
            restore(&sink, &manifest, &target, RestoreOptions::default())
                .await
                .is_err()
        );
        let tables: i64 = empty
            .client()
            .await
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(tables, 0, "{format:?}: the failed restore left objects");
    }
}

#[tokio::test]
async fn dry_run_reports_and_changes_nothing() {
    let Some(db) = TestDb::create("dry") else {
        return;
    };
    db.execute(SMALL).await;
    let options = PostgresOptions::from_url(db.url());
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();
    let missing = TestDb::named("dry_new");
    let target = PostgresTarget::new(&options, Some(&missing.url())).unwrap();
    let dry = RestoreOptions {
        force: false,
        dry_run: true,
    };
    let report = restore(&sink, &manifest, &target, dry).await.unwrap();
    assert!(
        report.summary.contains("would create"),
        "{}",
        report.summary
    );
    assert!(!database_exists(&missing.name));
}

#[tokio::test]
async fn several_databases_and_globals_make_one_bundle() {
    let Some(first) = TestDb::create("bundle_a") else {
        return;
    };
    let second = TestDb::create("bundle_b").unwrap();
    first.execute(RICH_SCHEMA).await;
    second.execute(SMALL).await;
    let fingerprints = [
        fingerprint(&first.client().await).await,
        fingerprint(&second.client().await).await,
    ];
    let mut options = PostgresOptions::from_url(first.url());
    options.databases = vec![first.name.clone(), second.name.clone()];
    options.globals = true;
    let source = PostgresSource::new(options.clone()).unwrap();
    let (sink, manifest) = backup(&source).await.unwrap();
    assert_eq!(manifest.dump_format, "pg_dump-bundle");
    assert!(
        manifest.artifact.key.ends_with("data.pgbundle.zst"),
        "{}",
        manifest.artifact.key
    );
    let meta = manifest.metadata_as::<PostgresMetadata>().unwrap();
    assert_eq!(meta.databases.len(), 2);
    assert_eq!(meta.databases[1].tables["public.items"], 20000);

    let report = check(&sink, &manifest, &PostgresCheck::new())
        .await
        .unwrap();
    assert_eq!(
        report.details["parts"].as_array().unwrap().len(),
        3,
        "{report:?}"
    );
    let report = check(&sink, &manifest, &PostgresDrill::new(&options).unwrap())
        .await
        .unwrap();
    assert_eq!(report.details["databases"].as_array().unwrap().len(), 2);

    // Both databases gone: a restore brings them back under their names.
    drop_database(&first.name);
    drop_database(&second.name);
    let target = PostgresTarget::new(&options, None).unwrap();
    restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(fingerprints[0], fingerprint(&first.client().await).await);
    assert_eq!(fingerprints[1], fingerprint(&second.client().await).await);

    // A second restore is refused: both exist and hold data.
    let err = restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(store_kind(&err), Some(StoreErrorKind::TargetNotEmpty));
}

#[tokio::test]
async fn two_drills_of_one_backup_run_at_once_and_leave_other_databases_alone() {
    let Some(db) = TestDb::create("drill_twice") else {
        return;
    };
    db.execute(SMALL).await;
    let options = PostgresOptions::from_url(db.url());
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();
    let drill = PostgresDrill::new(&options).unwrap();
    let scratch = |report: &backup_core::Report| {
        report.details["databases"][0]["scratch_database"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = scratch(&check(&sink, &manifest, &drill).await.unwrap());
    // Another running drill's scratch database (this process's, another random part):
    // drills must not touch it.
    let other = TestDb {
        name: format!("{}zzzzzz", &first[..first.len() - 6]),
    };
    connect("postgres")
        .await
        .unwrap()
        .batch_execute(&format!("CREATE DATABASE \"{}\"", other.name))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        check(&sink, &manifest, &drill),
        check(&sink, &manifest, &drill)
    );
    let (a, b) = (scratch(&a.unwrap()), scratch(&b.unwrap()));
    assert!(a != b && a != first, "{a} {b} {first}");
    assert!(a.len() <= 63 && a.starts_with("lifeboat_verify_"), "{a}");
    for name in [&first, &a, &b] {
        assert!(!database_exists(name), "{name} was not dropped");
    }
    assert!(
        database_exists(&other.name),
        "another drill's database was dropped"
    );
}

#[tokio::test]
async fn a_wrong_row_count_fails_the_drill() {
    let Some(db) = TestDb::create("drill_mismatch") else {
        return;
    };
    db.execute(SMALL).await;
    let options = PostgresOptions::from_url(db.url());
    let (sink, mut manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();
    manifest.metadata["databases"][0]["tables"]["public.items"] = serde_json::json!(19999);
    let err = check(&sink, &manifest, &PostgresDrill::new(&options).unwrap())
        .await
        .unwrap_err();
    assert_eq!(store_kind(&err), Some(StoreErrorKind::Corrupt), "{err}");
    assert!(err.to_string().contains("public.items"), "{err}");
}

#[tokio::test]
async fn the_format_check_lists_the_table_of_contents() {
    let Some(db) = TestDb::create("toc") else {
        return;
    };
    db.execute(SMALL).await;
    db.execute("CREATE TABLE \"odd name\"(v int); INSERT INTO \"odd name\" VALUES (1);")
        .await;
    let options = PostgresOptions::from_url(db.url());
    let (sink, mut manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();
    let report = check(&sink, &manifest, &PostgresCheck::new())
        .await
        .unwrap();
    assert_eq!(report.details["toc"]["table_data"], 2, "{report:?}");
    assert_eq!(report.details["toc"]["dbname"], db.name.as_str());

    // A table the manifest counts but the archive holds no data for: corrupt.
    manifest.metadata["databases"][0]["tables"]["public.ghost"] = serde_json::json!(3);
    let err = check(&sink, &manifest, &PostgresCheck::new())
        .await
        .unwrap_err();
    assert_eq!(store_kind(&err), Some(StoreErrorKind::Corrupt), "{err}");
    assert!(err.to_string().contains("public ghost"), "{err}");
}

#[tokio::test]
async fn a_failing_forced_restore_with_jobs_leaves_the_existing_database_unchanged() {
    // restore_jobs > 1 cannot run in one transaction: into a database that already exists it
    // must not be used, or a failure midway leaves the target half cleaned.
    let Some(db) = TestDb::create("jobs_force_src") else {
        return;
    };
    db.execute(SMALL).await;
    db.execute("CREATE TABLE extra(id int); INSERT INTO extra VALUES (1), (2);")
        .await;
    let mut options = PostgresOptions::from_url(db.url());
    options.restore_jobs = 2;
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();

    // The target holds the backup's tables with other rows, and a view on `extra` that makes
    // `DROP TABLE extra` (pg_restore --clean drops in reverse order: `items` first) fail after
    // `items` was dropped.
    let other = TestDb::create("jobs_force_dst").unwrap();
    other
        .execute(
            "CREATE TABLE extra(id int); INSERT INTO extra VALUES (7); \
             CREATE TABLE items(id int PRIMARY KEY, body text); INSERT INTO items VALUES (-1, 'old'); \
             CREATE SEQUENCE counter; SELECT setval('counter', 7); \
             CREATE VIEW extra_view AS SELECT * FROM extra;",
        )
        .await;
    let before = fingerprint(&other.client().await).await;
    let target = PostgresTarget::new(&options, Some(&other.url())).unwrap();
    let force = RestoreOptions {
        force: true,
        dry_run: false,
    };
    let err = restore(&sink, &manifest, &target, force).await.unwrap_err();
    assert!(err.to_string().contains("extra_view"), "{err}");
    assert_eq!(
        before,
        fingerprint(&other.client().await).await,
        "a failed forced restore changed the target"
    );

    // Into a database the restore creates, the jobs are used (and the result matches).
    let copy = TestDb::named("jobs_force_copy");
    let target = PostgresTarget::new(&options, Some(&copy.url())).unwrap();
    restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        fingerprint(&db.client().await).await,
        fingerprint(&copy.client().await).await
    );
}

/// Yields `data` in 64 KiB reads, then — where EOF would be — waits a moment (the pipeline
/// checking the stream's checksum) and fails.
struct FailsAtTheEnd {
    data: Vec<u8>,
    pos: usize,
    delay: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl tokio::io::AsyncRead for FailsAtTheEnd {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        if self.pos < self.data.len() {
            let n = (self.data.len() - self.pos)
                .min(buf.remaining())
                .min(64 * 1024);
            let start = self.pos;
            buf.put_slice(&self.data[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        let delay = self.delay.get_or_insert_with(|| {
            Box::pin(tokio::time::sleep(std::time::Duration::from_millis(1500)))
        });
        match std::future::Future::poll(delay.as_mut(), cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "checksum mismatch (injected)",
            ))),
        }
    }
}

#[tokio::test]
async fn a_stream_failing_where_eof_would_be_commits_nothing() {
    // The whole dump arrives, then the stream fails instead of ending (a checksum mismatch is
    // only known at the end): neither pg_restore nor psql may commit before lifeboat has seen
    // EOF, whatever they make of the bytes they got.
    use backup_core::Target;
    let Some(db) = TestDb::create("fail_at_eof") else {
        return;
    };
    db.execute(SMALL).await;
    for format in [DumpFormat::Custom, DumpFormat::Plain] {
        let mut options = PostgresOptions::from_url(db.url());
        options.format = format;
        let source = PostgresSource::new(options.clone()).unwrap();
        let (_sink, manifest) = backup(&source).await.unwrap();
        let mut dump = Vec::new();
        backup_core::Source::backup(&source, &mut dump)
            .await
            .unwrap();

        let empty = TestDb::create("fail_at_eof_dst").unwrap();
        let target = PostgresTarget::new(&options, Some(&empty.url())).unwrap();
        let mut input = FailsAtTheEnd {
            data: dump,
            pos: 0,
            delay: None,
        };
        let err = target
            .restore(&mut input, &manifest, &RestoreOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{format:?}: {err}");
        let tables: i64 = empty
            .client()
            .await
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(tables, 0, "{format:?}: the restore committed before EOF");
    }
}
