//! Restores as root never widen privileges: without `preserve_owner` everything belongs to the
//! restoring user and setuid, setgid and sticky bits are dropped; with it, owners and those
//! bits come back together. Device nodes and fifos, on disk or in an archive, are refused.
//!
//! These tests need root (chown, mknod). As another user they say so and pass, unless
//! `LIFEBOAT_REQUIRE_SERVICES=1`, where they fail.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use backup_core::store::Store;
use backup_core::{FormatCheck, RestoreOptions, StoreErrorKind, Target};
use common::{backup, leftovers, manifest, write_file};
use store_files::{Files, FilesCheck, FilesOptions, FilesSource, FilesTarget};
use tar::{Builder, EntryType, Header};

/// `nobody` on Debian and most other systems; any non-root id would do.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // `/proc/self` belongs to the process's effective user.
    let root = fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
    if !root {
        assert!(
            std::env::var("LIFEBOAT_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "these tests need root (LIFEBOAT_REQUIRE_SERVICES=1)"
        );
        eprintln!("not root: skipping a test of restores as root");
    }
    root
}

fn chown(path: &Path, id: u32) {
    std::os::unix::fs::lchown(path, Some(id), Some(id)).unwrap();
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn owner(path: &Path) -> (u32, u32) {
    let meta = fs::symlink_metadata(path).unwrap();
    (meta.uid(), meta.gid())
}

/// A tree of `nobody`'s with a setuid binary, a setgid folder, a sticky folder and a symlink;
/// returns its backup.
async fn nobodys_tree(root: &Path) -> (Vec<u8>, backup_core::Manifest) {
    let tree = root.join("src/tree");
    write_file(&tree.join("bin/tool"), b"#!/bin/sh\nid -u\n", 0o755);
    fs::set_permissions(tree.join("bin/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::create_dir(tree.join("shared")).unwrap();
    fs::set_permissions(tree.join("shared"), fs::Permissions::from_mode(0o2775)).unwrap();
    fs::create_dir(tree.join("drop")).unwrap();
    fs::set_permissions(tree.join("drop"), fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::symlink("bin/tool", tree.join("link")).unwrap();
    for path in ["", "bin", "bin/tool", "shared", "drop", "link"] {
        chown(&tree.join(path), NOBODY);
    }
    // chown clears setuid/setgid: set the modes again, as nobody's own files would have them.
    fs::set_permissions(tree.join("bin/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(tree.join("shared"), fs::Permissions::from_mode(0o2775)).unwrap();
    assert_eq!(mode(&tree.join("bin/tool")), 0o4755);
    let (tar, metadata) = backup(vec![tree], vec![]).await;
    (tar, manifest(metadata))
}

#[tokio::test]
async fn a_restore_as_root_drops_setuid_setgid_and_sticky_bits_with_the_owner() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (tar, manifest) = nobodys_tree(tmp.path()).await;
    let out = tmp.path().join("out");
    FilesTarget::new(&out)
        .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
        .await
        .unwrap();
    let tree = out.join("tree");
    for (path, expected) in [("bin/tool", 0o755), ("shared", 0o775), ("drop", 0o777)] {
        let path = tree.join(path);
        assert_eq!(mode(&path), expected, "{}", path.display());
        assert_eq!(owner(&path), (0, 0), "{}", path.display());
    }
    assert_eq!(owner(&tree.join("link")), (0, 0));
    // Run by nobody, the restored tool is not root's.
    let euid = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(tree.join("bin/tool"))
        .output();
    if let Ok(output) = euid {
        if output.status.success() {
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "65534");
        }
    }
}

#[tokio::test]
async fn preserve_owner_restores_owners_and_their_special_bits() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (tar, manifest) = nobodys_tree(tmp.path()).await;
    // Through the store's descriptor, as the config's `preserve_owner = true` does it.
    let options: FilesOptions =
        serde_json::from_value(serde_json::json!({"paths": ["./tree"], "preserve_owner": true}))
            .unwrap();
    let out = tmp.path().join("out");
    let target = Files::target(&options, Some(out.to_str().unwrap())).unwrap();
    target
        .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
        .await
        .unwrap();
    let tree = out.join("tree");
    for (path, expected) in [
        ("", 0o755),
        ("bin", 0o755),
        ("bin/tool", 0o4755),
        ("shared", 0o2775),
        ("drop", 0o1777),
    ] {
        let path = tree.join(path);
        assert_eq!(mode(&path), expected, "{}", path.display());
        assert_eq!(owner(&path), (NOBODY, NOBODY), "{}", path.display());
    }
    assert_eq!(owner(&tree.join("link")), (NOBODY, NOBODY));
    // The target folder itself is the restoring user's, private.
    assert_eq!(mode(&out), 0o700);
    assert_eq!(owner(&out), (0, 0));
}

/// An archive holding `ok.txt`, then one special entry built by the `tar` crate.
fn archive_with(kind: EntryType, name: &str) -> Vec<u8> {
    let mut builder = Builder::new(Vec::new());
    let mut header = Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    builder
        .append_data(&mut header, "ok.txt", &b"ok"[..])
        .unwrap();
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(0);
    header.set_mode(0o666);
    // /dev/sda (8, 0) or /dev/null (1, 3): what a hostile archive would point a node at.
    header
        .set_device_major(if kind == EntryType::Block { 8 } else { 1 })
        .unwrap();
    header
        .set_device_minor(if kind == EntryType::Block { 0 } else { 3 })
        .unwrap();
    header.set_cksum();
    builder.append_data(&mut header, name, &b""[..]).unwrap();
    builder.into_inner().unwrap()
}

#[tokio::test]
async fn device_nodes_and_fifos_in_an_archive_are_refused_by_restore_and_check() {
    // As root a restore could really create these, so the refusal matters here.
    let tmp = tempfile::tempdir().unwrap();
    for (kind, what) in [
        (EntryType::Char, "a character device"),
        (EntryType::Block, "a block device"),
        (EntryType::Fifo, "a fifo"),
    ] {
        let tar = archive_with(kind, "node");
        let manifest = manifest(common::counts(1, 0, 0, 2));
        let out = tmp.path().join("out");
        let err = FilesTarget::new(&out)
            .preserve_owner(true)
            .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
            .await
            .unwrap_err();
        let expected = format!(
            "archive entry `node` is {what}: a files backup holds only files, directories and \
             symlinks, so the archive is refused"
        );
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
        assert_eq!(err.to_string(), expected);
        assert!(!out.exists(), "nothing is restored");
        assert!(leftovers(tmp.path()).is_empty());
        let err = FilesCheck::new()
            .check(&mut &tar[..], &manifest)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
}

#[tokio::test]
async fn a_device_node_in_the_source_fails_the_backup_naming_it() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    fs::create_dir(&tree).unwrap();
    let made = Command::new("mknod")
        .arg(tree.join("null"))
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(made.success());
    let source = FilesSource::new(vec![tree], vec![]).unwrap();
    let mut out = Vec::new();
    let err = backup_core::Source::backup(&source, &mut out)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("character device"), "{err}");
    assert!(err.to_string().contains("null"), "{err}");
}
