//! Backup → restore round trips of a schema with many object kinds, in both formats, with the
//! format check and the restore drill.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use backup_core::{RestoreOptions, Source};
use common::*;
use store_postgres::{
    DumpFormat, PostgresCheck, PostgresDrill, PostgresMetadata, PostgresOptions, PostgresSource,
    PostgresTarget,
};

async fn round_trip(format: DumpFormat) {
    let Some(db) = TestDb::create(&format!("rich_{}", format.as_str())) else {
        return;
    };
    db.execute(RICH_SCHEMA).await;
    let before = fingerprint(&db.client().await).await;
    for kind in [
        "trg ", "fn ", "view ", "enum ", "domain ", "part ", "idx ", "con ",
    ] {
        assert!(
            before.iter().any(|line| line.starts_with(kind)),
            "the fingerprint misses `{kind}`: {before:?}"
        );
    }

    let mut options = PostgresOptions::from_url(db.url());
    options.format = format;
    let source = PostgresSource::new(options.clone()).unwrap();
    let preflight = source.preflight().await.unwrap();
    assert!(preflight.estimated_bytes.unwrap() > 1_000_000);
    let (sink, manifest) = backup(&source).await.unwrap();
    let expected_format = match format {
        DumpFormat::Custom => "pg_dump-custom",
        DumpFormat::Plain => "pg_dump-plain",
    };
    assert_eq!(manifest.dump_format, expected_format);
    let meta = manifest.metadata_as::<PostgresMetadata>().unwrap();
    let database = &meta.databases[0];
    assert_eq!(database.tables["public.big"], 100_000);
    assert_eq!(database.tables["sales.orders"], 2000);
    assert_eq!(database.tables["audit.log"], 2000);
    assert_eq!(
        database.tables["public.measurements_2025"] + database.tables["public.measurements_2026"],
        5000
    );
    assert_eq!(database.large_objects, 2);
    assert!(database.schema_hash.is_some());
    assert_eq!(meta.server_version_num / 10_000, 15);

    // verify (format only) and verify --deep (restore drill)
    let report = check(&sink, &manifest, &PostgresCheck::new())
        .await
        .unwrap();
    assert!(report.summary.contains("well-formed"), "{}", report.summary);
    let drill = PostgresDrill::new(&options).unwrap();
    let report = check(&sink, &manifest, &drill).await.unwrap();
    assert_eq!(
        report.details["databases"][0]["schema_hash_match"], true,
        "{report:?}"
    );
    assert!(report.details["restore_ms"].is_u64());
    let scratch = report.details["databases"][0]["scratch_database"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !database_exists(&scratch),
        "the scratch database was not dropped"
    );

    // restore --to a new database: same content, sequences included
    let copy = TestDb::named("rich_copy");
    let target = PostgresTarget::new(&options, Some(&copy.url())).unwrap();
    let report = restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.details["databases"][0]["created"], true);
    let after = fingerprint(&copy.client().await).await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn custom_format_round_trip_keeps_every_table_and_sequence() {
    round_trip(DumpFormat::Custom).await;
}

#[tokio::test]
async fn plain_format_round_trip_keeps_every_table_and_sequence() {
    round_trip(DumpFormat::Plain).await;
}

#[tokio::test]
async fn parallel_restore_stages_and_matches() {
    let Some(db) = TestDb::create("parallel") else {
        return;
    };
    db.execute(RICH_SCHEMA).await;
    let before = fingerprint(&db.client().await).await;
    let mut options = PostgresOptions::from_url(db.url());
    options.restore_jobs = 2;
    options.no_owner = true;
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();
    let copy = TestDb::named("parallel_copy");
    let target = PostgresTarget::new(&options, Some(&copy.url())).unwrap();
    restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(before, fingerprint(&copy.client().await).await);
}

#[tokio::test]
async fn table_filters_count_exactly_the_dumped_tables() {
    let Some(db) = TestDb::create("filter") else {
        return;
    };
    db.execute(RICH_SCHEMA).await;
    let mut options = PostgresOptions::from_url(db.url());
    // Like pg_dump -t: only the tables (no schemas, types or functions they need), so
    // pick tables of `public` whose columns use built-in types.
    options.tables = vec!["public.measurement*".into(), "\"Mixed Case\"".into()];
    options.exclude_tables = vec!["public.measurements_2026".into()];
    let source = PostgresSource::new(options.clone()).unwrap();
    let (sink, manifest) = backup(&source).await.unwrap();
    let meta = manifest.metadata_as::<PostgresMetadata>().unwrap();
    let tables: Vec<&String> = meta.databases[0].tables.keys().collect();
    assert_eq!(tables, ["public.Mixed Case", "public.measurements_2025"]);
    assert!(meta.filtered && meta.databases[0].schema_hash.is_none());
    let copy = TestDb::named("filter_copy");
    let target = PostgresTarget::new(&options, Some(&copy.url())).unwrap();
    restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap();
    let drill = PostgresDrill::new(&options).unwrap();
    check(&sink, &manifest, &drill).await.unwrap();

    options.tables = vec!["nothing_like_this".into()];
    options.exclude_tables.clear();
    let Err(err) = backup(&PostgresSource::new(options).unwrap()).await else {
        panic!("a pattern matching nothing was accepted");
    };
    assert!(err.to_string().contains("match no table"), "{err}");
}

#[tokio::test]
async fn schema_only_dumps_no_rows() {
    let Some(db) = TestDb::create("schema_only") else {
        return;
    };
    db.execute(RICH_SCHEMA).await;
    let mut options = PostgresOptions::from_url(db.url());
    options.schema_only = true;
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();
    let meta = manifest.metadata_as::<PostgresMetadata>().unwrap();
    assert!(meta.databases[0].tables.values().all(|rows| *rows == 0));
    let drill = PostgresDrill::new(&options).unwrap();
    check(&sink, &manifest, &drill).await.unwrap();
}

#[tokio::test]
async fn preflight_reports_server_and_sizes() {
    let Some(db) = TestDb::create("preflight") else {
        return;
    };
    db.execute("CREATE TABLE t(id int); INSERT INTO t VALUES (1);")
        .await;
    let source = PostgresSource::new(PostgresOptions::from_url(db.url())).unwrap();
    let preflight = source.preflight().await.unwrap();
    assert!(preflight.version.unwrap().starts_with("15."));
    assert_eq!(preflight.details["databases"][0]["tables"], 1);
    assert!(source.dump_format() == "pg_dump-custom" && source.extension() == "dump");
}

#[tokio::test]
async fn a_unix_socket_url_works_for_the_client_and_the_tools() {
    let Some(db) = TestDb::create("socket") else {
        return;
    };
    if !std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432").exists() {
        eprintln!("skipping: no unix socket in /var/run/postgresql");
        return;
    }
    db.execute("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 10);")
        .await;
    let url = format!("postgres://root@%2Fvar%2Frun%2Fpostgresql:5432/{}", db.name);
    let options = PostgresOptions::from_url(url);
    let (_sink, manifest) = backup(&PostgresSource::new(options).unwrap())
        .await
        .unwrap();
    let meta = manifest.metadata_as::<PostgresMetadata>().unwrap();
    assert_eq!(meta.databases[0].tables["public.t"], 10);
    assert!(
        meta.server
            .starts_with("postgres://root@[/var/run/postgresql]:5432/"),
        "{}",
        meta.server
    );
}

#[tokio::test]
async fn exclude_tables_alone_keeps_the_large_objects() {
    // pg_dump -T (unlike -t) still dumps large objects: the manifest must count them, or the
    // restore and the drill see "more" large objects than the backup claims.
    let Some(db) = TestDb::create("exclude_lo") else {
        return;
    };
    db.execute(RICH_SCHEMA).await;
    let mut options = PostgresOptions::from_url(db.url());
    options.exclude_tables = vec!["public.big".into()];
    let (sink, manifest) = backup(&PostgresSource::new(options.clone()).unwrap())
        .await
        .unwrap();
    let meta = manifest.metadata_as::<PostgresMetadata>().unwrap();
    assert!(!meta.databases[0].tables.contains_key("public.big"));
    assert_eq!(meta.databases[0].large_objects, 2);
    check(&sink, &manifest, &PostgresDrill::new(&options).unwrap())
        .await
        .unwrap();
    let copy = TestDb::named("exclude_lo_copy");
    let target = PostgresTarget::new(&options, Some(&copy.url())).unwrap();
    restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap();
    let los: i64 = copy
        .client()
        .await
        .query_one("SELECT count(*) FROM pg_largeobject_metadata", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(los, 2);
}

/// The format check lists the archive with the `pg_restore` of the source's `bin_dir`, like
/// every other tool lifeboat runs for the source (it used the `PATH`'s).
#[tokio::test]
async fn the_format_check_runs_pg_restore_from_bin_dir() {
    let Some(db) = TestDb::create("check_bin_dir") else {
        return;
    };
    db.execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10);")
        .await;
    let tools = tempfile::tempdir().unwrap();
    let marker = tools.path().join("pg_restore-ran");
    for name in ["pg_dump", "pg_dumpall", "psql"] {
        lifeboat_testing::fake_tool(tools.path(), name, "exec \"$REAL\" \"$@\"");
    }
    lifeboat_testing::fake_tool(
        tools.path(),
        "pg_restore",
        &format!("touch '{}'; exec \"$REAL\" \"$@\"", marker.display()),
    );
    let mut options = PostgresOptions::from_url(db.url());
    options.bin_dir = Some(tools.path().to_path_buf());
    let source = PostgresSource::new(options.clone()).unwrap();
    let (sink, manifest) = backup(&source).await.unwrap();
    assert!(!marker.exists(), "a backup needs no pg_restore");

    let report = check(&sink, &manifest, &PostgresCheck::for_options(&options))
        .await
        .unwrap();
    assert!(report.summary.contains("well-formed"), "{}", report.summary);
    assert!(
        marker.exists(),
        "the check did not run bin_dir's pg_restore: {report:?}"
    );
    assert!(report.details["toc"].is_object(), "{report:?}");
}
