//! What an fs storage holds besides its objects: temp uploads in `<root>/.lifeboat-tmp/` (a
//! run killed before its rename) and empty backup folders (created for an upload that never
//! completed). Both are found and removed with plain file-system calls, off the async runtime.

use std::io;
use std::path::{Path, PathBuf};

use backup_core::leftovers::{LeftoverKind, StorageLeftover};
use time::OffsetDateTime;

use crate::keys::TMP_DIR_NAME;

/// The modification time of `meta`, when the file system has one.
fn modified(meta: &std::fs::Metadata) -> Option<OffsetDateTime> {
    meta.modified().ok().map(OffsetDateTime::from)
}

/// The files below `<root>/.lifeboat-tmp/`, keyed `.lifeboat-tmp/<name>` (blocking).
pub(crate) fn temp_uploads(root: &Path) -> io::Result<Vec<StorageLeftover>> {
    let tmp = root.join(TMP_DIR_NAME);
    let mut found = Vec::new();
    let mut pending = vec![tmp.clone()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        for entry in entries {
            let entry = entry?;
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            if meta.is_dir() {
                pending.push(entry.path());
                continue;
            }
            let Some(key) = key_of(root, &entry.path()) else {
                continue;
            };
            found.push(StorageLeftover {
                kind: LeftoverKind::TempUpload,
                key,
                size: meta.len(),
                last_modified: modified(&meta),
                upload_id: None,
            });
        }
    }
    Ok(found)
}

/// The folders below `<root>/<prefix>` that hold nothing at all, keyed `<prefix>.../` (blocking).
pub(crate) fn empty_folders(root: &Path, prefix: &str) -> io::Result<Vec<StorageLeftover>> {
    let mut found = Vec::new();
    let mut pending = vec![root.join(prefix)];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            let is_empty = match std::fs::read_dir(&path) {
                Ok(mut inner) => inner.next().is_none(),
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            if !is_empty {
                pending.push(path);
                continue;
            }
            let (Some(key), Ok(meta)) = (key_of(root, &path), entry.metadata()) else {
                continue;
            };
            found.push(StorageLeftover {
                kind: LeftoverKind::EmptyFolder,
                key: format!("{key}/"),
                size: 0,
                last_modified: modified(&meta),
                upload_id: None,
            });
        }
    }
    Ok(found)
}

/// Removes a temp upload or an empty folder (blocking). One already gone, or a folder that is
/// no longer empty (a backup started writing into it), is left as it is without error.
pub(crate) fn remove(root: &Path, leftover: &StorageLeftover) -> io::Result<()> {
    let Some(path) = path_of(root, &leftover.key) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a key inside the storage root",
        ));
    };
    let removed = match leftover.kind {
        LeftoverKind::EmptyFolder => std::fs::remove_dir(&path),
        _ => std::fs::remove_file(&path),
    };
    match removed {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(()),
        Err(err) => Err(err),
    }
}

/// `path` relative to `root` with `/` separators, when it is valid UTF-8.
fn key_of(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = relative.iter().map(|p| p.to_str()).collect();
    Some(parts?.join("/"))
}

/// The path of a leftover's key below `root`, refusing anything that could leave it.
fn path_of(root: &Path, key: &str) -> Option<PathBuf> {
    let key = key.trim_end_matches('/');
    if key.is_empty()
        || key.starts_with('/')
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\\'))
    {
        return None;
    }
    Some(root.join(key))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn finds_and_removes_temp_files_and_empty_folders_only() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        std::fs::create_dir_all(root.join(".lifeboat-tmp")).unwrap();
        std::fs::write(root.join(".lifeboat-tmp/data.db.zst.abc"), b"12345").unwrap();
        std::fs::create_dir_all(root.join("app/20260101T000000Z-aaaaaa")).unwrap();
        std::fs::create_dir_all(root.join("app/20260101T000000Z-bbbbbb")).unwrap();
        std::fs::write(root.join("app/20260101T000000Z-bbbbbb/data.db"), b"x").unwrap();

        let temp = temp_uploads(root).unwrap();
        assert_eq!(temp.len(), 1);
        assert_eq!(temp[0].key, ".lifeboat-tmp/data.db.zst.abc");
        assert_eq!(temp[0].size, 5);
        assert!(temp[0].last_modified.is_some());
        let empty = empty_folders(root, "app/").unwrap();
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].key, "app/20260101T000000Z-aaaaaa/");

        remove(root, &temp[0]).unwrap();
        remove(root, &empty[0]).unwrap();
        assert!(!root.join(".lifeboat-tmp/data.db.zst.abc").exists());
        assert!(!root.join("app/20260101T000000Z-aaaaaa").exists());
        assert!(root.join("app/20260101T000000Z-bbbbbb/data.db").exists());
        // Gone already: fine. A folder that filled up meanwhile: kept, fine.
        remove(root, &empty[0]).unwrap();
        let full = StorageLeftover {
            key: "app/20260101T000000Z-bbbbbb/".into(),
            ..empty[0].clone()
        };
        remove(root, &full).unwrap();
        assert!(root.join("app/20260101T000000Z-bbbbbb").exists());
        assert!(remove(
            root,
            &StorageLeftover {
                key: "../x".into(),
                ..full
            }
        )
        .is_err());
        assert!(empty_folders(root, "missing/").unwrap().is_empty());
    }
}
