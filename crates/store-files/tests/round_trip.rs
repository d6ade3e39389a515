//! A realistic tree backed up, checked and restored: contents, modes, mtimes, links, unicode
//! and long names, empty directories and exclusions all survive.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use backup_core::{FormatCheck, RestoreOptions, Source, Target};
use common::{backup, leftovers, manifest, snapshot, write_file, Node};
use filetime::FileTime;
use store_files::{FilesCheck, FilesSource, FilesTarget};

const LONG_DIR_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const LONG_DIR_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn long_rel() -> PathBuf {
    Path::new("nested")
        .join(LONG_DIR_A)
        .join(LONG_DIR_B)
        .join("long-file-name.txt")
}

/// Builds `src/config` (a tree) and `src/certs/a.pem` (a single file).
fn build_tree(src: &Path) {
    let config = src.join("config");
    write_file(&config.join("app.toml"), b"port = 8080\n", 0o644);
    write_file(&config.join("secret.key"), b"hunter2", 0o600);
    write_file(&config.join("run.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    write_file(
        &config.join("résumé-日本.txt"),
        "unicode ✓".as_bytes(),
        0o640,
    );
    write_file(
        &config.join("nested/deeper/deepest/file.txt"),
        &vec![7u8; 10_000],
        0o644,
    );
    write_file(&config.join(long_rel()), b"long path", 0o644);
    fs::create_dir_all(config.join("empty")).unwrap();
    symlink("app.toml", config.join("link-to-app")).unwrap();
    symlink("does-not-exist", config.join("dangling")).unwrap();
    symlink(long_rel(), config.join("long-link")).unwrap();
    // Excluded: by file-name glob, by relative-path glob, and a whole directory.
    write_file(&config.join("scratch.tmp"), b"x", 0o644);
    write_file(&config.join("nested/also.tmp"), b"x", 0o644);
    write_file(&config.join("cache/blob.bin"), b"cached", 0o644);
    write_file(&config.join("cache/sub/more.bin"), b"cached", 0o644);
    write_file(&src.join("certs/a.pem"), b"-----BEGIN CERT-----\n", 0o600);
    write_file(&src.join("certs/other.pem"), b"not configured", 0o600);

    // Old, distinct mtimes; directories last, deepest first, since writing inside a
    // directory changes its mtime.
    let mut stamp = 1_500_000_000i64;
    let mut next = || {
        stamp += 1000;
        FileTime::from_unix_time(stamp, 0)
    };
    for file in [
        "app.toml",
        "secret.key",
        "run.sh",
        "résumé-日本.txt",
        "nested/deeper/deepest/file.txt",
    ] {
        filetime::set_file_mtime(config.join(file), next()).unwrap();
    }
    filetime::set_file_mtime(config.join(long_rel()), next()).unwrap();
    filetime::set_file_mtime(src.join("certs/a.pem"), next()).unwrap();
    for link in ["link-to-app", "dangling", "long-link"] {
        let time = next();
        filetime::set_symlink_file_times(config.join(link), time, time).unwrap();
    }
    let long_dir = long_rel().parent().unwrap().to_path_buf();
    for dir in [
        long_dir.clone(),
        long_dir.parent().unwrap().to_path_buf(),
        PathBuf::from("nested/deeper/deepest"),
        PathBuf::from("nested/deeper"),
        PathBuf::from("nested"),
        PathBuf::from("empty"),
        PathBuf::from(""),
    ] {
        filetime::set_file_mtime(config.join(dir), next()).unwrap();
    }
    fs::set_permissions(config.join("empty"), fs::Permissions::from_mode(0o750)).unwrap();
}

fn expected_config(src: &Path) -> std::collections::BTreeMap<PathBuf, Node> {
    let mut expected = snapshot(&src.join("config"));
    for excluded in [
        "scratch.tmp",
        "nested/also.tmp",
        "cache",
        "cache/blob.bin",
        "cache/sub",
        "cache/sub/more.bin",
    ] {
        assert!(expected.remove(Path::new(excluded)).is_some(), "{excluded}");
    }
    expected
}

#[tokio::test]
async fn tree_round_trips_with_modes_mtimes_links_and_exclusions() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    build_tree(&src);
    let expected = expected_config(&src);
    // config: 6 files, 7 dirs, 3 links; plus a.pem.
    let paths = vec![src.join("config"), src.join("certs/a.pem")];
    let (tar, metadata) = backup(paths.clone(), vec!["*.tmp", "cache"]).await;

    assert_eq!(metadata["files"], 7);
    assert_eq!(metadata["dirs"], 7);
    assert_eq!(metadata["symlinks"], 3);
    let bytes = 12 + 7 + 18 + "unicode ✓".len() + 10_000 + 9 + 21;
    assert_eq!(metadata["bytes"], bytes);
    assert_eq!(
        metadata["paths"],
        serde_json::json!([paths[0].to_string_lossy(), paths[1].to_string_lossy()])
    );
    assert_eq!(metadata["exclude"], serde_json::json!(["*.tmp", "cache"]));

    // Preflight counts the same things and predicts the stream's exact size.
    let source = FilesSource::new(paths.clone(), vec!["*.tmp".into(), "cache".into()]).unwrap();
    let preflight = source.preflight().await.unwrap();
    assert_eq!(preflight.estimated_bytes, Some(tar.len() as u64));
    for key in ["files", "dirs", "symlinks", "bytes"] {
        assert_eq!(preflight.details[key], metadata[key], "{key}");
    }

    // Deterministic: the same tree gives the same bytes.
    let (again, _) = backup(paths, vec!["*.tmp", "cache"]).await;
    assert!(again == tar, "two backups of the same tree differ");

    let manifest = manifest(metadata);
    let report = FilesCheck::new()
        .check(&mut &tar[..], &manifest)
        .await
        .unwrap();
    assert_eq!(report.details["files"], 7);

    let out = tmp.path().join("out");
    let target = FilesTarget::new(out.join("restored"));
    target
        .prepare(&manifest, &RestoreOptions::default())
        .await
        .unwrap();
    let report = target
        .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        report.summary,
        format!(
            "restored 7 files, 7 dirs, 3 symlinks to {}",
            out.join("restored").display()
        )
    );

    let restored = out.join("restored");
    let mut top: Vec<String> = fs::read_dir(&restored)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["a.pem", "config"]);
    assert_eq!(snapshot(&restored.join("config")), expected);
    assert_eq!(
        snapshot(&restored.join("a.pem")),
        snapshot(&src.join("certs/a.pem"))
    );
    assert_eq!(
        fs::read_link(restored.join("config/dangling")).unwrap(),
        Path::new("does-not-exist")
    );
    assert!(leftovers(&out).is_empty());
}

#[tokio::test]
async fn empty_directory_and_single_file_roots() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("logs")).unwrap();
    write_file(&tmp.path().join("one.conf"), b"", 0o600);
    let (tar, metadata) = backup(
        vec![tmp.path().join("logs"), tmp.path().join("one.conf")],
        vec![],
    )
    .await;
    assert_eq!(metadata["files"], 1);
    assert_eq!(metadata["dirs"], 1);
    assert_eq!(metadata["bytes"], 0);

    let target = FilesTarget::new(tmp.path().join("restored"));
    target
        .restore(
            &mut &tar[..],
            &manifest(metadata),
            &RestoreOptions::default(),
        )
        .await
        .unwrap();
    assert!(tmp.path().join("restored/logs").is_dir());
    let one = tmp.path().join("restored/one.conf");
    assert_eq!(fs::read(&one).unwrap(), b"");
    assert_eq!(
        fs::metadata(&one).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn restore_into_a_relative_path_without_parent() {
    let tmp = tempfile::tempdir().unwrap();
    write_file(&tmp.path().join("etc/app.conf"), b"a=1", 0o644);
    let (tar, metadata) = backup(vec![tmp.path().join("etc")], vec![]).await;
    let manifest = manifest(metadata);

    // A target nested in directories that do not exist yet.
    let target = FilesTarget::new(tmp.path().join("a/b/restored"));
    assert_eq!(
        target.describe(),
        tmp.path().join("a/b/restored").display().to_string()
    );
    target
        .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        fs::read(tmp.path().join("a/b/restored/etc/app.conf")).unwrap(),
        b"a=1"
    );
}
