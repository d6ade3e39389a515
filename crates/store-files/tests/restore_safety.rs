//! The restore contract: a target holding data is refused without `--force` and replaced with
//! it; a bad stream (truncated, failing midway or at its very end, trailing garbage, counts that
//! differ from the manifest) changes nothing and leaves no staging directory behind.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use backup_core::pipeline::{run_check, run_restore, RestoreRequest};
use backup_core::transform::Keyring;
use backup_core::{ErrorClass, FormatCheck, Manifest, RestoreOptions, StoreErrorKind, Target};
use common::{backup, counts, leftovers, manifest, write_file, FailingReader};
use lifeboat_testing::MemorySink;
use store_files::{FilesCheck, FilesTarget};
use tokio::io::AsyncRead;

const FORCE: RestoreOptions = RestoreOptions {
    force: true,
    dry_run: false,
};

/// A small backup: `etc/app.conf` and `etc/big.bin` (large enough to span many pipe chunks).
async fn fixture(root: &Path) -> (Vec<u8>, Manifest) {
    write_file(&root.join("src/etc/app.conf"), b"new = true\n", 0o644);
    write_file(&root.join("src/etc/big.bin"), &vec![42u8; 300_000], 0o644);
    let (tar, metadata) = backup(vec![root.join("src/etc")], vec![]).await;
    (tar, manifest(metadata))
}

/// A target directory that already holds `old.txt`.
fn existing_target(root: &Path) -> PathBuf {
    let target = root.join("out/target");
    write_file(&target.join("old.txt"), b"precious", 0o600);
    target
}

fn assert_untouched(target: &Path) {
    let names: Vec<_> = fs::read_dir(target)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["old.txt"]);
    assert_eq!(fs::read(target.join("old.txt")).unwrap(), b"precious");
    assert!(leftovers(target.parent().unwrap()).is_empty());
}

#[tokio::test]
async fn non_empty_target_is_refused_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let (tar, manifest) = fixture(tmp.path()).await;
    let dir = existing_target(tmp.path());
    let target = FilesTarget::new(&dir);

    let err = target
        .prepare(&manifest, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty);
    let message = err.to_string();
    assert!(message.contains(&dir.display().to_string()), "{message}");
    assert!(message.contains("--force"), "{message}");

    // restore enforces the rule itself too.
    let err = target
        .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty);
    assert_untouched(&dir);
}

#[tokio::test]
async fn force_replaces_a_non_empty_target() {
    let tmp = tempfile::tempdir().unwrap();
    let (tar, manifest) = fixture(tmp.path()).await;
    let dir = existing_target(tmp.path());
    let target = FilesTarget::new(&dir);
    target.prepare(&manifest, &FORCE).await.unwrap();
    target
        .restore(&mut &tar[..], &manifest, &FORCE)
        .await
        .unwrap();
    assert!(!dir.join("old.txt").exists());
    assert_eq!(fs::read(dir.join("etc/app.conf")).unwrap(), b"new = true\n");
    assert_eq!(fs::read(dir.join("etc/big.bin")).unwrap().len(), 300_000);
    assert!(leftovers(dir.parent().unwrap()).is_empty());
}

#[tokio::test]
async fn the_target_keeps_the_mode_of_the_directory_it_replaces_or_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let tmp = tempfile::tempdir().unwrap();
    let (tar, manifest) = fixture(tmp.path()).await;

    let fresh = tmp.path().join("out/new/fresh");
    FilesTarget::new(&fresh)
        .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(mode(&fresh), 0o700);
    // So are the missing parents the restore creates (README, "Files restore").
    assert_eq!(mode(&tmp.path().join("out/new")), 0o700);
    assert_eq!(mode(&tmp.path().join("out")), 0o700);

    let dir = existing_target(tmp.path());
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    FilesTarget::new(&dir)
        .restore(&mut &tar[..], &manifest, &FORCE)
        .await
        .unwrap();
    assert_eq!(mode(&dir), 0o750);
    assert!(dir.join("etc/app.conf").is_file());
    assert!(leftovers(dir.parent().unwrap()).is_empty());
}

#[tokio::test]
async fn empty_target_is_replaced_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let (tar, manifest) = fixture(tmp.path()).await;
    let dir = tmp.path().join("out/empty");
    fs::create_dir_all(&dir).unwrap();
    let target = FilesTarget::new(&dir);
    target
        .prepare(&manifest, &RestoreOptions::default())
        .await
        .unwrap();
    target
        .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
        .await
        .unwrap();
    assert!(dir.join("etc/app.conf").is_file());
    assert!(leftovers(dir.parent().unwrap()).is_empty());
}

#[tokio::test]
async fn a_file_in_place_of_the_target_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, manifest) = fixture(tmp.path()).await;
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let err = FilesTarget::new(&file)
        .prepare(&manifest, &FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains("not a directory"), "{err}");
}

/// Restores `input` over an existing target with `--force`, expecting failure with `kind`,
/// and checks the target is untouched; then the same into a missing target.
async fn expect_failure(
    root: &Path,
    manifest: &Manifest,
    kind: StoreErrorKind,
    input: impl Fn() -> Box<dyn AsyncRead + Send + Unpin>,
) -> String {
    let dir = existing_target(root);
    let err = FilesTarget::new(&dir)
        .restore(&mut input(), manifest, &FORCE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), kind, "{err}");
    assert_untouched(&dir);

    let missing = root.join("out/missing");
    let err2 = FilesTarget::new(&missing)
        .restore(&mut input(), manifest, &FORCE)
        .await
        .unwrap_err();
    assert_eq!(err2.kind(), kind, "{err2}");
    assert!(!missing.exists());
    assert!(leftovers(missing.parent().unwrap()).is_empty());

    let check = FilesCheck::new()
        .check(&mut input(), manifest)
        .await
        .unwrap_err();
    assert_eq!(check.kind(), kind, "{check}");
    err.to_string()
}

#[tokio::test]
async fn truncated_streams_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (tar, manifest) = fixture(tmp.path()).await;
    // Cut inside a file's data, inside a header, and exactly before the end marker (which the
    // tar parser alone would take for a complete archive).
    for cut in [tar.len() / 2, 700, tar.len() - 1024, tar.len() - 1000] {
        let bytes = tar[..cut].to_vec();
        let message = expect_failure(tmp.path(), &manifest, StoreErrorKind::Corrupt, || {
            Box::new(io::Cursor::new(bytes.clone()))
        })
        .await;
        assert!(
            message.contains("truncated") || message.contains("invalid tar stream"),
            "cut at {cut}: {message}"
        );
    }
}

#[tokio::test]
async fn a_failing_stream_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (tar, manifest) = fixture(tmp.path()).await;
    for (fail_at, kind, expected) in [
        (10_000, io::ErrorKind::Other, StoreErrorKind::Failed),
        (200_000, io::ErrorKind::InvalidData, StoreErrorKind::Corrupt),
        // Every byte arrives, then the error comes instead of EOF: the pipeline's way of
        // reporting a checksum mismatch. The archive itself is complete and valid.
        (
            tar.len(),
            io::ErrorKind::InvalidData,
            StoreErrorKind::Corrupt,
        ),
    ] {
        let message = expect_failure(tmp.path(), &manifest, expected, || {
            Box::new(FailingReader::new(tar.clone(), fail_at, kind))
        })
        .await;
        assert!(
            message.contains("injected read failure"),
            "fail at {fail_at}: {message}"
        );
    }
}

#[tokio::test]
async fn trailing_garbage_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut tar, manifest) = fixture(tmp.path()).await;
    tar.extend_from_slice(&[0u8; 4096]);
    tar.extend_from_slice(b"garbage");
    let message = expect_failure(tmp.path(), &manifest, StoreErrorKind::Corrupt, || {
        Box::new(io::Cursor::new(tar.clone()))
    })
    .await;
    assert!(message.contains("after the end"), "{message}");
}

#[tokio::test]
async fn zero_padding_after_the_end_is_fine() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut tar, manifest) = fixture(tmp.path()).await;
    // GNU tar pads archives to 10 KiB records.
    tar.resize(tar.len().div_ceil(10_240) * 10_240 + 10_240, 0);
    FilesCheck::new()
        .check(&mut &tar[..], &manifest)
        .await
        .unwrap();
    FilesTarget::new(tmp.path().join("out/padded"))
        .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn counts_that_differ_from_the_manifest_are_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let (tar, _) = fixture(tmp.path()).await;
    let wrong = manifest(counts(3, 1, 0, 300_011));
    let message = expect_failure(tmp.path(), &wrong, StoreErrorKind::Corrupt, || {
        Box::new(io::Cursor::new(tar.clone()))
    })
    .await;
    assert_eq!(
        message,
        "the archive does not match its manifest: files: the manifest says 3, the archive holds 2"
    );

    let mut no_counts = wrong.clone();
    no_counts.metadata = serde_json::json!({});
    let err = FilesCheck::new()
        .check(&mut &tar[..], &no_counts)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);

    // The pipeline refuses another format before reading a byte: the storage does not even
    // hold the backup's data, which reading would report instead.
    let mut other_format = wrong;
    other_format.dump_format = "sqlite-db".into();
    let storage = MemorySink::new("memory");
    let keyring = Keyring::new();
    let request = RestoreRequest {
        sink: &storage,
        manifest: &other_format,
        keyring: &keyring,
        progress: None,
    };
    let target = FilesTarget::new(tmp.path().join("out/x"));
    let err = run_restore(&request, &target, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, backup_core::Error::UnsupportedDumpFormat { .. }),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Config);
    let err = run_check(&request, &FilesCheck::new()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Config, "{err}");
    assert!(!target.dir().exists());
    assert!(leftovers(&tmp.path().join("out")).is_empty());
}
