//! TLS against the local server (`ssl = on` with Debian's snakeoil certificate, CN=localhost):
//! `require` end to end (backup, drill, restore, every connection encrypted as the server sees
//! it in `pg_stat_ssl`), `verify-ca` with the certificate as root, `verify-full` by name and by
//! IP (a clear host name error), an unknown issuer. Skips with a notice when the server has
//! `ssl = off` or does not use the snakeoil certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use backup_core::{RestoreOptions, Source};
use common::*;
use store_postgres::{
    PostgresDrill, PostgresMetadata, PostgresOptions, PostgresSource, PostgresTarget,
};

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// Whether the server has `ssl = on` (skip notice otherwise; an unreachable server is handled
/// by `connect`). `snakeoil`: also require the server to present the snakeoil certificate.
async fn ssl_on(snakeoil: bool) -> bool {
    let Some(client) = connect("postgres").await else {
        return false;
    };
    let row = client
        .query_one(
            "SELECT current_setting('ssl'), current_setting('ssl_cert_file')",
            &[],
        )
        .await
        .unwrap();
    let (ssl, cert): (String, String) = (row.get(0), row.get(1));
    if ssl != "on" {
        eprintln!("skipping: PostgreSQL at {SERVER} has ssl = off");
        return false;
    }
    if snakeoil && (cert != SNAKEOIL || !std::path::Path::new(SNAKEOIL).exists()) {
        eprintln!("skipping: the server's certificate is {cert}, not the readable {SNAKEOIL}");
        return false;
    }
    true
}

fn with_params(db: &TestDb, host: &str, params: &str) -> PostgresOptions {
    PostgresOptions::from_url(format!("postgres://root@{host}:5432/{}?{params}", db.name))
}

#[tokio::test]
async fn require_encrypts_backup_drill_and_restore() {
    if !ssl_on(false).await {
        return;
    }
    let Some(db) = TestDb::create("tls_require") else {
        return;
    };
    db.execute("CREATE TABLE t(id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;")
        .await;
    let options = with_params(&db, "127.0.0.1", "sslmode=require");
    let source = PostgresSource::new(options.clone()).unwrap();
    let preflight = source.preflight().await.unwrap();
    assert_eq!(preflight.details["sslmode"], "require");
    assert!(
        preflight.details["tls"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLS")),
        "{:?}",
        preflight.details
    );
    let (sink, manifest) = backup(&source).await.unwrap();
    let meta = manifest.metadata_as::<PostgresMetadata>().unwrap();
    assert!(meta.tls.as_deref().is_some_and(|v| v.starts_with("TLS")));
    assert_eq!(meta.databases[0].tables["public.t"], 1000);

    let report = check(&sink, &manifest, &PostgresDrill::new(&options).unwrap())
        .await
        .unwrap();
    let drilled = &report.details["databases"][0];
    assert!(
        drilled["tls"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLS")),
        "{report:?}"
    );

    let copy = TestDb::named("tls_copy");
    let to = format!(
        "postgres://root@127.0.0.1:5432/{}?sslmode=require",
        copy.name
    );
    let target = PostgresTarget::new(&options, Some(&to)).unwrap();
    let report = restore(&sink, &manifest, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.details["databases"][0]["created"], true);
    let count: i64 = copy
        .client()
        .await
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1000);

    // disable: the same server, no TLS.
    let plain = PostgresSource::new(with_params(&db, "127.0.0.1", "sslmode=disable")).unwrap();
    assert!(plain.preflight().await.unwrap().details["tls"].is_null());
}

#[tokio::test]
async fn verify_ca_accepts_the_snakeoil_root_and_its_tools_too() {
    if !ssl_on(true).await {
        return;
    }
    let Some(db) = TestDb::create("tls_verify_ca") else {
        return;
    };
    db.execute("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 10);")
        .await;
    // By IP: verify-ca checks the chain only, so the certificate's name does not matter.
    let options = with_params(
        &db,
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={SNAKEOIL}"),
    );
    let (_sink, manifest) = backup(&PostgresSource::new(options).unwrap())
        .await
        .unwrap();
    let meta = manifest.metadata_as::<PostgresMetadata>().unwrap();
    assert!(meta.tls.is_some());
    assert_eq!(meta.databases[0].tables["public.t"], 10);

    // verify-full by the certificate's name, root given as the option.
    let mut options = with_params(&db, "localhost", "sslmode=verify-full");
    options.tls_ca_file = Some(SNAKEOIL.into());
    let preflight = PostgresSource::new(options).unwrap().preflight().await;
    assert!(preflight.is_ok(), "{preflight:?}");
}

#[tokio::test]
async fn verify_full_by_ip_and_unknown_issuers_are_clear_errors() {
    if !ssl_on(true).await {
        return;
    }
    let Some(db) = TestDb::create("tls_verify_full") else {
        return;
    };
    let options = with_params(
        &db,
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={SNAKEOIL}"),
    );
    let err = PostgresSource::new(options)
        .unwrap()
        .preflight()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not name the host `127.0.0.1`") && err.contains("verify-ca"),
        "{err}"
    );
    // No root given: the system's roots do not include a self-signed certificate.
    let err = PostgresSource::new(with_params(&db, "localhost", "sslmode=verify-ca"))
        .unwrap()
        .preflight()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not signed by a root the system trusts"),
        "{err}"
    );
    // A root file that does not exist: a configuration error naming it.
    let err = PostgresSource::new(with_params(
        &db,
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ))
    .unwrap()
    .preflight()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), backup_core::StoreErrorKind::Config);
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
