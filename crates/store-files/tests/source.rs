//! The backup side: configuration errors, missing paths, unreadable or special files and a
//! failing output all fail loudly, naming what went wrong.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::PathBuf;

use backup_core::{Source, StoreErrorKind};
use common::{backup, write_file, FailingWriter};
use store_files::{FilesError, FilesSource};

#[test]
fn kind_format_and_extension() {
    let source = FilesSource::new(vec!["./config".into()], vec![]).unwrap();
    assert_eq!(source.kind(), "files");
    assert_eq!(source.dump_format(), "tar");
    assert_eq!(source.extension(), "tar");
    assert_eq!(source.paths(), [PathBuf::from("./config")]);
    assert!(source.exclude().is_empty());
}

#[test]
fn bad_configurations_are_config_errors() {
    let cases: Vec<(Vec<PathBuf>, Vec<String>, &str)> = vec![
        (vec![], vec![], "has no paths"),
        (vec!["./config".into()], vec!["a[".into()], "`a[`"),
        (
            vec!["./a/config".into(), "./b/config".into()],
            vec![],
            "would both be stored as `config`",
        ),
        (vec![".".into()], vec![], "path `.` has no file name"),
        (vec!["./x/..".into()], vec![], "has no file name"),
    ];
    for (paths, exclude, expected) in cases {
        let err = FilesSource::new(paths, exclude).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Config, "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[tokio::test]
async fn a_missing_path_is_named_by_preflight_and_backup() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("present")).unwrap();
    let missing = tmp.path().join("missing");
    let source =
        FilesSource::new(vec![tmp.path().join("present"), missing.clone()], vec![]).unwrap();
    let expected = format!("configured path `{}` does not exist", missing.display());

    let err = source.preflight().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert_eq!(err.to_string(), expected);

    let mut out = Vec::new();
    let err = source
        .backup(&mut out)
        .await
        .map(|d| d.metadata)
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert_eq!(err.to_string(), expected);
    assert!(out.is_empty(), "nothing is streamed before the check");
}

#[tokio::test]
async fn special_files_fail_the_backup_unless_excluded() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("run");
    write_file(&root.join("app.pid"), b"42", 0o644);
    let socket = root.join("app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();

    let source = FilesSource::new(vec![root.clone()], vec![]).unwrap();
    let err = source
        .backup(&mut Vec::new())
        .await
        .map(|d| d.metadata)
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Failed);
    assert!(
        err.to_string()
            .starts_with(&format!("`{}` is a socket", socket.display())),
        "{err}"
    );
    assert!(source.preflight().await.is_err());

    let (_, metadata) = backup(vec![root], vec!["*.sock"]).await;
    assert_eq!(metadata["files"], 1);
}

#[tokio::test]
async fn an_unreadable_file_fails_the_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("secrets");
    let locked = root.join("locked.key");
    write_file(&locked, b"secret", 0o000);
    if fs::File::open(&locked).is_ok() {
        // Running as root: permissions do not stop reads. Nothing to test here.
        return;
    }
    let source = FilesSource::new(vec![root], vec![]).unwrap();
    let err = source
        .backup(&mut Vec::new())
        .await
        .map(|d| d.metadata)
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Failed);
    assert!(
        err.to_string().contains(&locked.display().to_string()),
        "{err}"
    );
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test]
async fn an_unreadable_directory_fails_the_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    let locked = root.join("locked");
    write_file(&locked.join("inside.txt"), b"x", 0o644);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read_dir(&locked).is_ok() {
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        return;
    }
    let source = FilesSource::new(vec![root], vec![]).unwrap();
    let err = source
        .backup(&mut Vec::new())
        .await
        .map(|d| d.metadata)
        .unwrap_err();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(err.kind(), StoreErrorKind::Failed);
    assert!(
        err.to_string().contains(&locked.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_failing_output_fails_the_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("logs");
    write_file(&root.join("big.log"), &vec![1u8; 1_000_000], 0o644);
    let source = FilesSource::new(vec![root], vec![]).unwrap();
    let mut out = FailingWriter {
        written: 0,
        limit: 100_000,
    };
    let err = source
        .backup(&mut out)
        .await
        .map(|d| d.metadata)
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Failed);
    assert_eq!(
        err.to_string(),
        "writing the backup stream failed: storage is full"
    );
}

#[tokio::test]
async fn a_symlinked_root_is_kept_as_a_link() {
    let tmp = tempfile::tempdir().unwrap();
    write_file(&tmp.path().join("real/app.conf"), b"x", 0o644);
    symlink("real", tmp.path().join("current")).unwrap();
    let (_, metadata) = backup(vec![tmp.path().join("current")], vec![]).await;
    assert_eq!(metadata["symlinks"], 1);
    assert_eq!(metadata["files"], 0);
}

#[test]
fn errors_keep_their_kind_through_store_error() {
    let err = FilesError::MissingPath {
        path: "./certs".into(),
    };
    assert_eq!(err.kind(), StoreErrorKind::Config);
    let store: backup_core::StoreError = err.into();
    assert_eq!(store.kind(), StoreErrorKind::Config);
    assert_eq!(
        store.to_string(),
        "configured path `./certs` does not exist"
    );
}
