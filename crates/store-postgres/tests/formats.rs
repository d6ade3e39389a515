//! A backup of another store never reaches the postgres target, check or drill: the pipeline
//! refuses its dump format before a byte is read (no server is needed: nothing connects).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use backup_core::pipeline::{run_check, run_restore, RestoreRequest};
use backup_core::transform::Keyring;
use backup_core::{Error, FormatCheck, RestoreOptions, StoreErrorKind, Target};
use lifeboat_testing::{manifest, MemorySink};
use store_postgres::{PostgresCheck, PostgresDrill, PostgresOptions, PostgresTarget};

/// A server nothing listens on: a connection attempt would fail, and none is made.
const NOWHERE: &str = "postgres://root@127.0.0.1:1/orders";

#[tokio::test]
async fn a_redis_backup_is_refused_before_a_byte_is_read() {
    let options = PostgresOptions::from_url(NOWHERE);
    // No object in storage either: the refusal comes before the download.
    let sink = MemorySink::new("memory");
    let keyring = Keyring::new();
    let redis = manifest("redis", "redis-rdb", serde_json::json!({ "keys": 3 }));
    let request = RestoreRequest {
        sink: &sink,
        manifest: &redis,
        keyring: &keyring,
        progress: None,
    };
    let target = PostgresTarget::new(&options, None).unwrap();
    let err = run_restore(&request, &target, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedDumpFormat { .. }), "{err}");
    let checks: [Box<dyn FormatCheck>; 2] = [
        Box::new(PostgresCheck::new()),
        Box::new(PostgresDrill::new(&options).unwrap()),
    ];
    for check in checks {
        let err = run_check(&request, check.as_ref()).await.unwrap_err();
        assert!(matches!(err, Error::UnsupportedDumpFormat { .. }), "{err}");
    }
}

#[tokio::test]
async fn a_caller_bypassing_the_pipeline_gets_a_config_error() {
    let options = PostgresOptions::from_url(NOWHERE);
    let target = PostgresTarget::new(&options, None).unwrap();
    let redis = manifest("redis", "redis-rdb", serde_json::json!({}));
    let err = target
        .restore(&mut &b""[..], &redis, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config, "{err}");
    assert!(err.to_string().contains("redis-rdb"), "{err}");
}
