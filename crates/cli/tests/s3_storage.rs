//! Two storages, one of them S3 (a local S3-compatible server, moto): the stream goes to both,
//! losing or damaging the local copy loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use backup_core::Sink;
use common::{lifeboat, make_db};
use lifeboat_sinks::{OpendalSink, StorageConfig};
use predicates::str::contains;

fn endpoint() -> String {
    std::env::var("LIFEBOAT_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into())
}

/// Creates a fresh bucket, or `None` (with a notice) when the server is unreachable and
/// services are not required.
async fn fresh_bucket(name: &str) -> Option<String> {
    let bucket = format!("{name}-{:08x}", rand::random::<u32>());
    let url = format!("{}/{bucket}", endpoint());
    match reqwest::Client::new().put(&url).send().await {
        Ok(response) if response.status().is_success() => Some(bucket),
        Ok(response) => panic!("creating bucket {bucket} failed: {}", response.status()),
        Err(err) => {
            lifeboat_testing::service_unavailable(format_args!(
                "S3 server at {} unreachable ({err})",
                endpoint()
            ));
            None
        }
    }
}

fn s3_toml(bucket: &str) -> String {
    format!(
        "kind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key_id = \"${{TEST_S3_KEY}}\"\nsecret_access_key = \"${{TEST_S3_SECRET}}\"\n",
        endpoint()
    )
}

async fn remove_bucket(bucket: &str) {
    let config: StorageConfig = toml::from_str(
        &s3_toml(bucket)
            .replace("${TEST_S3_KEY}", "test")
            .replace("${TEST_S3_SECRET}", "test"),
    )
    .unwrap();
    let sink: Arc<dyn Sink> = Arc::new(OpendalSink::new("cleanup", &config).unwrap());
    for object in sink.list("").await.unwrap() {
        sink.delete(&object.key).await.unwrap();
    }
    let _ = reqwest::Client::new()
        .delete(format!("{}/{bucket}", endpoint()))
        .send()
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn local_and_s3_copies_back_each_other_up() {
    let Some(bucket) = fresh_bucket("lifeboat-cli").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 3_000);
    std::fs::write(
        dir.path().join("lifeboat.toml"),
        format!(
            "[storage.local]\nkind = \"fs\"\nroot = \"./backups\"\n\n[storage.offsite]\n{}\n\
             [[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\nstorage = [\"local\", \"offsite\"]\n",
            s3_toml(&bucket)
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = lifeboat(dir.path());
        cmd.env("TEST_S3_KEY", "test")
            .env("TEST_S3_SECRET", "test")
            .args(args);
        cmd
    };

    run(&["check"]).assert().success().stdout(contains("s3://"));
    run(&["backup"])
        .assert()
        .success()
        .stdout(contains("local, offsite"));
    let listed = list_json_with(dir.path(), &[]);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["storages"],
        serde_json::json!(["local", "offsite"])
    );

    // A damaged local copy: restore falls back to the S3 copy.
    let artifact = dir
        .path()
        .join("backups")
        .join(listed[0]["artifact_key"].as_str().unwrap());
    let mut bytes = std::fs::read(&artifact).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&artifact, bytes).unwrap();
    run(&["verify", "app"])
        .assert()
        .code(13)
        .stdout(contains("offsite"));
    run(&["restore", "app", "--to", "r1.db"])
        .assert()
        .success()
        .stderr(contains("trying the next storage"));
    assert_eq!(
        common::db_fingerprint(&dir.path().join("r1.db")),
        common::db_fingerprint(&dir.path().join("app.db"))
    );

    // The local storage lost entirely: the backup is still listed (list says the catalog is
    // incomplete and exits 1), verified and restored.
    std::fs::remove_dir_all(dir.path().join("backups")).unwrap();
    let out = run(&["list", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["storages"], serde_json::json!(["offsite"]));
    run(&["verify", "app", "--storage", "offsite"])
        .assert()
        .success();
    run(&["restore", "app", "--to", "r2.db"]).assert().success();
    assert_eq!(
        common::db_fingerprint(&dir.path().join("r2.db")),
        common::db_fingerprint(&dir.path().join("app.db"))
    );

    remove_bucket(&bucket).await;
}

fn list_json_with(dir: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    common::list_json_env(
        dir,
        args,
        &[("TEST_S3_KEY", "test"), ("TEST_S3_SECRET", "test")],
    )
}
