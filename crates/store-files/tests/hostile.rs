//! Hand-crafted hostile archives: path traversal, absolute paths, symlink escapes and entry
//! types the store never writes are refused as corrupt by both restore and check, and nothing
//! is written outside the staging directory, which is removed.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use backup_core::{FormatCheck, RestoreOptions, StoreError, StoreErrorKind, Target};
use common::{counts, end_marker, leftovers, manifest, raw_entry};
use store_files::{FilesCheck, FilesTarget};

struct Outcome {
    restore: StoreError,
    check: StoreError,
}

/// Restores `tar` into `<root>/restore/target` and checks it; both must fail.
async fn restore_and_check(root: &Path, tar: &[u8], metadata: serde_json::Value) -> Outcome {
    let manifest = manifest(metadata);
    let parent = root.join("restore");
    fs::create_dir_all(&parent).unwrap();
    let target = FilesTarget::new(parent.join("target"));
    let restore = target
        .restore(
            &mut &tar[..],
            &manifest,
            &RestoreOptions {
                force: true,
                dry_run: false,
            },
        )
        .await
        .expect_err("a hostile archive must not restore");
    assert!(
        !parent.join("target").exists(),
        "the target must not be created"
    );
    assert!(
        leftovers(&parent).is_empty(),
        "the staging dir must be removed"
    );
    let check = FilesCheck::new()
        .check(&mut &tar[..], &manifest)
        .await
        .expect_err("a hostile archive must not pass the check");
    Outcome { restore, check }
}

fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut tar: Vec<u8> = entries.concat();
    tar.extend(end_marker());
    tar
}

#[tokio::test]
async fn traversal_and_absolute_paths_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let absolute = outside.join("abs-x");
    let absolute_name = absolute.to_str().unwrap().as_bytes().to_vec();
    for (name, escaped_to) in [
        (b"../x".to_vec(), tmp.path().join("restore/x")),
        (b"a/../../x".to_vec(), tmp.path().join("restore/x")),
        (b"ok/../../../x".to_vec(), tmp.path().join("x")),
        (absolute_name, absolute.clone()),
    ] {
        // A harmless entry first, so the staging directory has content to clean up.
        let tar = archive(&[
            raw_entry(b"ok/", b'5', b"", b""),
            raw_entry(b"ok/fine.txt", b'0', b"", b"fine"),
            raw_entry(&name, b'0', b"", b"pwned"),
        ]);
        let outcome = restore_and_check(tmp.path(), &tar, counts(2, 1, 0, 9)).await;
        let shown = String::from_utf8_lossy(&name).into_owned();
        for err in [&outcome.restore, &outcome.check] {
            assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{shown}: {err}");
            assert!(err.to_string().contains(&shown), "{shown}: {err}");
        }
        assert!(!escaped_to.exists(), "{shown} escaped to {escaped_to:?}");
    }
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[tokio::test]
async fn symlink_escapes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let absolute = outside.to_str().unwrap().as_bytes().to_vec();
    for (link, through) in [
        (absolute.clone(), b"link/file".to_vec()),
        (b"../../outside".to_vec(), b"link/file".to_vec()),
        (absolute.clone(), b"./link/./file".to_vec()),
        (absolute, b"link/sub/file".to_vec()),
    ] {
        let tar = archive(&[
            raw_entry(b"link", b'2', &link, b""),
            raw_entry(&through, b'0', b"", b"pwned"),
        ]);
        let outcome = restore_and_check(tmp.path(), &tar, counts(1, 0, 1, 5)).await;
        for err in [&outcome.restore, &outcome.check] {
            assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
            assert!(err.to_string().contains("symlink"), "{err}");
        }
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "something was written through the link"
        );
    }

    // A directory entry through the link is refused as well.
    let tar = archive(&[
        raw_entry(b"link", b'2', outside.to_str().unwrap().as_bytes(), b""),
        raw_entry(b"link/made-dir/", b'5', b"", b""),
    ]);
    let outcome = restore_and_check(tmp.path(), &tar, counts(0, 1, 1, 0)).await;
    assert_eq!(outcome.restore.kind(), StoreErrorKind::Corrupt);
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[tokio::test]
async fn entry_types_the_store_never_writes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("secret"), b"host secret").unwrap();
    let secret = tmp.path().join("secret");
    for (typeflag, link) in [
        (b'1', secret.to_str().unwrap().as_bytes()), // hard link to a host file
        (b'3', &b""[..]),                            // character device
        (b'6', &b""[..]),                            // fifo
    ] {
        let tar = archive(&[raw_entry(b"special", typeflag, link, b"")]);
        let outcome = restore_and_check(tmp.path(), &tar, counts(0, 0, 0, 0)).await;
        for err in [&outcome.restore, &outcome.check] {
            assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
            assert!(err.to_string().contains("special"), "{err}");
        }
    }
}

#[tokio::test]
async fn a_symlink_then_a_folder_of_its_name_is_refused_by_restore_and_check() {
    // `a -> outside`, then `a/` (a folder of the same name), then `a/x`: with the folder
    // accepted, `a/x` would be written through the link. Both refuse at `a/`, the same way.
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let link = outside.to_str().unwrap().as_bytes().to_vec();
    for (second, name, metadata) in [
        (raw_entry(b"a/", b'5', b"", b""), "a/", counts(0, 1, 1, 0)),
        (raw_entry(b"a/", b'5', b"", b""), "a/", counts(1, 1, 1, 5)),
        (
            raw_entry(b"a", b'0', b"", b"replaced"),
            "a",
            counts(1, 0, 1, 8),
        ),
    ] {
        let mut entries = vec![raw_entry(b"a", b'2', &link, b""), second];
        if metadata["files"] == 1 && name == "a/" {
            entries.push(raw_entry(b"a/x", b'0', b"", b"pwned"));
        }
        // Counts as a manifest would have them, so only the rule can refuse the archive.
        let outcome = restore_and_check(tmp.path(), &archive(&entries), metadata).await;
        for err in [&outcome.restore, &outcome.check] {
            assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
            assert_eq!(
                err.to_string(),
                format!(
                    "unsafe path in archive entry `{name}`: the path was stored earlier as a \
                     symlink: restoring it again would follow or replace the link"
                ),
            );
        }
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }
}

#[tokio::test]
async fn conflicting_entries_are_refused_by_restore_and_check_alike() {
    // Not escapes, but entries a backup never writes: the same rule refuses them in both.
    for (entries, metadata, message) in [
        (
            vec![
                raw_entry(b"a", b'0', b"", b"x"),
                raw_entry(b"a/b", b'0', b"", b"y"),
            ],
            counts(2, 0, 0, 2),
            "archive entry `a/b` conflicts with an earlier entry: its parent `a` is a file \
             stored earlier in the archive",
        ),
        (
            vec![
                raw_entry(b"a/", b'5', b"", b""),
                raw_entry(b"a", b'0', b"", b"y"),
            ],
            counts(1, 1, 0, 1),
            "archive entry `a` conflicts with an earlier entry: the path was stored earlier (as \
             a directory): a files backup stores each path once",
        ),
        (
            vec![
                raw_entry(b"t/", b'5', b"", b""),
                raw_entry(b"t/b", b'0', b"", b"x"),
                raw_entry(b"t/a", b'0', b"", b"y"),
            ],
            counts(2, 1, 0, 2),
            "archive entry `t/a` conflicts with an earlier entry: it comes after `t/b`: a files \
             backup stores each tree in sorted order",
        ),
        (
            vec![
                raw_entry(b"t/", b'5', b"", b""),
                raw_entry(b"u", b'0', b"", b"x"),
                raw_entry(b"t/a", b'0', b"", b"y"),
            ],
            counts(2, 1, 0, 2),
            "archive entry `t/a` conflicts with an earlier entry: the top-level entry `t` was \
             stored earlier, before another one",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let outcome = restore_and_check(tmp.path(), &archive(&entries), metadata).await;
        for err in [&outcome.restore, &outcome.check] {
            assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
            assert_eq!(err.to_string(), message);
        }
    }
}
