//! A bad artifact or a wrong key is caught before a target commits anything; a failed source
//! or storage never leaves a manifest.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use backup_core::catalog::list_manifests;
use backup_core::pipeline::{run_restore, RestoreRequest};
use backup_core::transform::{Compression, Keyring};
use backup_core::{Error, ErrorClass, Manifest, Report, RestoreOptions, Sink, StoreError, Target};
use common::{backup, sinks, BytesSource, Enc, Keys};
use lifeboat_testing::MemorySink;
use tokio::io::{AsyncRead, AsyncReadExt};

/// A target that stages everything and commits only at EOF, like the real ones.
#[derive(Default, Clone)]
struct RecordingTarget {
    committed: Arc<Mutex<Option<Vec<u8>>>>,
}

#[async_trait]
impl Target for RecordingTarget {
    fn describe(&self) -> String {
        "recording target".into()
    }
    fn formats(&self) -> &'static [&'static str] {
        &["raw"]
    }
    async fn prepare(&self, _: &Manifest, _: &RestoreOptions) -> Result<(), StoreError> {
        Ok(())
    }
    async fn restore(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        _: &Manifest,
        _: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        let mut staged = Vec::new();
        input
            .read_to_end(&mut staged)
            .await
            .map_err(StoreError::failed)?;
        *self.committed.lock().unwrap() = Some(staged);
        Ok(Report::default())
    }
}

fn data() -> Vec<u8> {
    (0..300_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect()
}

async fn restore_with(
    sink: &MemorySink,
    manifest: &Manifest,
    keyring: &Keyring,
) -> (Result<Report, Error>, Option<Vec<u8>>) {
    let target = RecordingTarget::default();
    let request = RestoreRequest {
        sink,
        manifest,
        keyring,
        progress: None,
    };
    let result = run_restore(&request, &target, &RestoreOptions::default()).await;
    let committed = target.committed.lock().unwrap().clone();
    (result, committed)
}

const CHAINS: [(Compression, Enc); 4] = [
    (Compression::None, Enc::None),
    (
        Compression::Zstd {
            level: 3,
            workers: 0,
        },
        Enc::None,
    ),
    (Compression::Gzip { level: 6 }, Enc::Recipient),
    (
        Compression::Zstd {
            level: 3,
            workers: 0,
        },
        Enc::Passphrase,
    ),
];

#[tokio::test]
async fn intact_backups_restore_and_commit() {
    for (compression, enc) in CHAINS {
        let keys = Keys::new();
        let sink = MemorySink::new("mem");
        let outcome = backup(
            &BytesSource::new(data()),
            &keys.transforms(compression, enc),
            &sinks(&sink),
        )
        .await
        .unwrap();
        let (result, committed) = restore_with(&sink, &outcome.manifest, &keys.keyring()).await;
        result.unwrap();
        assert_eq!(committed.unwrap(), data());
    }
}

#[tokio::test]
async fn a_format_the_target_does_not_read_is_refused_before_a_byte_is_read() {
    let keys = Keys::new();
    let sink = MemorySink::new("mem");
    let outcome = backup(
        &BytesSource::new(data()),
        &keys.transforms(Compression::None, Enc::None),
        &sinks(&sink),
    )
    .await
    .unwrap();
    // The data object is gone: a refusal that read it would report an integrity failure.
    sink.remove_object(&outcome.manifest.artifact.key);
    let mut manifest = outcome.manifest.clone();
    manifest.dump_format = "rdb".into();
    let (result, committed) = restore_with(&sink, &manifest, &keys.keyring()).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::UnsupportedDumpFormat { .. }), "{err}");
    assert_eq!(err.class(), backup_core::ErrorClass::Config);
    assert!(err.to_string().contains("`rdb`"), "{err}");
    assert!(committed.is_none());
}

#[tokio::test]
async fn tampering_is_an_integrity_failure_and_commits_nothing() {
    type Tamper = fn(&mut Vec<u8>);
    let tampers: [(&str, Tamper); 6] = [
        ("flip a byte in the middle", |d| {
            let i = d.len() / 2;
            d[i] ^= 0x40
        }),
        ("flip the first byte", |d| d[0] ^= 0x01),
        ("flip the last byte", |d| {
            let i = d.len() - 1;
            d[i] ^= 0x80
        }),
        ("flip a byte at 40", |d| d[40] ^= 0x10),
        ("truncate", |d| {
            let n = d.len() - 100;
            d.truncate(n)
        }),
        ("append garbage", |d| d.extend_from_slice(b"garbage")),
    ];
    for (compression, enc) in CHAINS {
        for (what, tamper) in tampers {
            let keys = Keys::new();
            let sink = MemorySink::new("mem");
            let outcome = backup(
                &BytesSource::new(data()),
                &keys.transforms(compression, enc),
                &sinks(&sink),
            )
            .await
            .unwrap();
            let key = &outcome.manifest.artifact.key;
            let mut stored = sink.object(key).unwrap().to_vec();
            tamper(&mut stored);
            sink.set_object(key, stored);
            let (result, committed) = restore_with(&sink, &outcome.manifest, &keys.keyring()).await;
            let err = result.expect_err(what);
            assert_eq!(
                err.class(),
                ErrorClass::Integrity,
                "{what} with {compression:?}/{enc:?}: {err}"
            );
            assert!(committed.is_none(), "{what}: the target committed data");
        }
    }
}

#[tokio::test]
async fn another_backups_data_is_an_integrity_failure() {
    for (compression, enc) in CHAINS {
        let keys = Keys::new();
        let sink = MemorySink::new("mem");
        let transforms = keys.transforms(compression, enc);
        let first = backup(&BytesSource::new(data()), &transforms, &sinks(&sink))
            .await
            .unwrap();
        let mut other_data = data();
        other_data[1000] ^= 1;
        let second = backup(&BytesSource::new(other_data), &transforms, &sinks(&sink))
            .await
            .unwrap();
        // Same source, same keys, often the same size: only the checksums tell them apart.
        let other = sink.object(&second.manifest.artifact.key).unwrap();
        sink.set_object(&first.manifest.artifact.key, other);
        let (result, committed) = restore_with(&sink, &first.manifest, &keys.keyring()).await;
        let err = result.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Integrity, "{err}");
        assert!(committed.is_none());
    }
}

#[tokio::test]
async fn wrong_or_missing_keys_are_decrypt_failures() {
    let keys = Keys::new();
    let other = Keys::new();
    for enc in [Enc::Recipient, Enc::Passphrase] {
        let sink = MemorySink::new("mem");
        let outcome = backup(
            &BytesSource::new(data()),
            &keys.transforms(Compression::default(), enc),
            &sinks(&sink),
        )
        .await
        .unwrap();
        let wrong = Keyring::new()
            .with_identities(vec![other.identity.clone()])
            .with_passphrase("wrong passphrase".to_string().into());
        for keyring in [wrong, Keyring::new()] {
            let (result, committed) = restore_with(&sink, &outcome.manifest, &keyring).await;
            let err = result.unwrap_err();
            assert_eq!(err.class(), ErrorClass::Decrypt, "{enc:?}: {err}");
            assert!(!err.to_string().contains(keys.passphrase));
            assert!(committed.is_none());
        }
    }
}

#[tokio::test]
async fn a_source_failing_midway_leaves_no_manifest() {
    let sink = MemorySink::new("mem");
    let keys = Keys::new();
    let transforms = keys.transforms(Compression::default(), Enc::Recipient);
    let good = backup(&BytesSource::new(data()), &transforms, &sinks(&sink))
        .await
        .unwrap();
    let before = sink.keys();

    let failing = BytesSource {
        data: data(),
        fail_after: Some(500_000),
    };
    let err = backup(&failing, &transforms, &sinks(&sink))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("simulated source failure"),
        "{err}"
    );
    assert_eq!(sink.keys(), before, "a failed backup left objects behind");
    let listed = list_manifests(&sink, Some("app")).await.unwrap().manifests;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, good.manifest.id);
}

#[tokio::test]
async fn an_empty_dump_is_a_failure() {
    let sink = MemorySink::new("mem");
    let err = backup(&BytesSource::new(Vec::new()), &[], &sinks(&sink))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty dump"), "{err}");
    assert!(sink.keys().is_empty());
}

#[tokio::test]
async fn one_failing_storage_does_not_lose_the_others() {
    let good = MemorySink::new("local");
    let bad = MemorySink::failing_after("offsite", 100_000);
    let all: Vec<Arc<dyn Sink>> = vec![Arc::new(good.clone()), Arc::new(bad.clone())];
    let outcome = backup(&BytesSource::new(data()), &[], &all).await.unwrap();
    assert_eq!(outcome.stored_in, vec!["local".to_string()]);
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].storage, "offsite");
    assert!(bad.keys().is_empty());
    assert_eq!(
        list_manifests(&good, None).await.unwrap().manifests.len(),
        1
    );

    // Every storage failing is a failed backup with the storages' errors, not a broken pipe.
    let bad2 = MemorySink::failing_after("offsite2", 100_000);
    let only_bad: Vec<Arc<dyn Sink>> = vec![Arc::new(bad.clone()), Arc::new(bad2.clone())];
    let err = backup(&BytesSource::new(data()), &[], &only_bad)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("simulated storage failure"),
        "{err}"
    );
    assert!(bad.keys().is_empty() && bad2.keys().is_empty());
}

#[tokio::test]
async fn manifests_hold_no_secret() {
    let keys = Keys::new();
    let sink = MemorySink::new("mem");
    for enc in [Enc::Recipient, Enc::Passphrase] {
        let outcome = backup(
            &BytesSource::new(data()),
            &keys.transforms(Compression::default(), enc),
            &sinks(&sink),
        )
        .await
        .unwrap();
        let json = String::from_utf8(outcome.manifest.to_json().unwrap()).unwrap();
        assert!(!json.contains(keys.passphrase));
        assert!(!json.to_lowercase().contains("age-secret-key"));
        assert!(json.contains("lifeboat-manifest/1"));
    }
}

#[tokio::test]
async fn a_wrong_identity_is_known_before_any_download() {
    let keys = Keys::new();
    let sink = MemorySink::new("mem");
    let outcome = backup(
        &BytesSource::new(data()),
        &keys.transforms(Compression::default(), Enc::Recipient),
        &sinks(&sink),
    )
    .await
    .unwrap();
    // Without the data object, only a check that reads nothing can still say "wrong key".
    sink.remove_object(&outcome.manifest.artifact.key);
    let wrong = Keyring::new().with_identities(vec![Keys::new().identity]);
    let (result, _) = restore_with(&sink, &outcome.manifest, &wrong).await;
    let err = result.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Decrypt, "{err}");
    assert!(
        err.to_string()
            .contains(&keys.identity.to_public().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn one_unreadable_manifest_hides_no_other_backup() {
    let sink = MemorySink::new("mem");
    let good = backup(&BytesSource::new(data()), &[], &sinks(&sink))
        .await
        .unwrap();
    sink.set_object(
        "app/20200101T000000Z-000000/manifest.json",
        r#"{"format":"lifeboat-manifest/1"}"#,
    );
    // A field from a later version is ignored, not a reason to hide the backup.
    let mut newer: serde_json::Value =
        serde_json::from_slice(&good.manifest.to_json().unwrap()).unwrap();
    newer["added_by_a_later_version"] = serde_json::json!(true);
    let key = backup_core::manifest_key("app", &good.manifest.id);
    sink.set_object(&key, serde_json::to_vec(&newer).unwrap());

    let listing = list_manifests(&sink, Some("app")).await.unwrap();
    assert_eq!(listing.manifests.len(), 1);
    assert_eq!(listing.manifests[0].id, good.manifest.id);
    assert_eq!(listing.errors.len(), 1);
    assert!(listing.errors[0]
        .to_string()
        .contains("20200101T000000Z-000000"));
}

/// A source that (against the rules) shuts its writer down.
struct ShuttingSource(Vec<u8>);

#[async_trait]
impl backup_core::Source for ShuttingSource {
    fn kind(&self) -> &'static str {
        "bytes"
    }
    fn dump_format(&self) -> &'static str {
        "raw"
    }
    fn extension(&self) -> &'static str {
        "bin"
    }
    async fn preflight(&self) -> Result<backup_core::Preflight, StoreError> {
        Ok(backup_core::Preflight::default())
    }
    async fn backup(
        &self,
        out: &mut (dyn tokio::io::AsyncWrite + Send + Unpin),
    ) -> Result<backup_core::Dumped, StoreError> {
        use tokio::io::AsyncWriteExt;
        out.write_all(&self.0).await.map_err(StoreError::failed)?;
        out.shutdown().await.map_err(StoreError::failed)?;
        Ok(backup_core::Dumped::default())
    }
}

#[tokio::test]
async fn a_source_shutting_its_writer_down_still_gives_true_checksums() {
    let keys = Keys::new();
    let sink = MemorySink::new("mem");
    let transforms = keys.transforms(Compression::default(), Enc::Recipient);
    let outcome = backup(&ShuttingSource(data()), &transforms, &sinks(&sink))
        .await
        .unwrap();
    let (result, committed) = restore_with(&sink, &outcome.manifest, &keys.keyring()).await;
    result.unwrap();
    assert_eq!(committed.unwrap(), data());
}

#[tokio::test]
async fn a_failed_stream_never_turns_into_a_clean_eof() {
    use backup_core::pipeline::open_restore_stream;
    use tokio::io::AsyncReadExt;
    let sink = MemorySink::new("mem");
    let outcome = backup(&BytesSource::new(data()), &[], &sinks(&sink))
        .await
        .unwrap();
    let key = &outcome.manifest.artifact.key;
    let mut stored = sink.object(key).unwrap().to_vec();
    stored[1000] ^= 1;
    sink.set_object(key, stored);
    let keyring = Keyring::new();
    let request = backup_core::pipeline::RestoreRequest {
        sink: &sink,
        manifest: &outcome.manifest,
        keyring: &keyring,
        progress: None,
    };
    let mut stream = open_restore_stream(&request).await.unwrap();
    // A zero-length read is not the end of the stream.
    assert_eq!(stream.read(&mut []).await.unwrap(), 0);
    let mut sink_buf = Vec::new();
    assert!(stream.read_to_end(&mut sink_buf).await.is_err());
    // Reading again after the error still fails.
    assert!(stream.read_to_end(&mut sink_buf).await.is_err());
    assert!(!stream.is_complete());
}
