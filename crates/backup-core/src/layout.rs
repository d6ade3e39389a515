//! Where things live in storage:
//! `<source>/<id>/data.<ext>` and `<source>/<id>/manifest.json` (written last).

use crate::BackupId;

/// The manifest's file name inside a backup's folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The folder of one backup: `<source>/<id>`.
pub fn backup_dir(source: &str, id: &BackupId) -> String {
    format!("{source}/{id}")
}

/// The key of a backup's manifest.
pub fn manifest_key(source: &str, id: &BackupId) -> String {
    format!("{}/{MANIFEST_FILE}", backup_dir(source, id))
}

/// The key of a backup's data object, e.g. `orders/<id>/data.dump.zst.age`.
pub fn data_key(source: &str, id: &BackupId, extension: &str) -> String {
    format!("{}/data.{extension}", backup_dir(source, id))
}

/// The prefix below which all of a source's backups live.
pub fn source_prefix(source: &str) -> String {
    format!("{source}/")
}

/// Whether `name` is a valid source name: `[a-z0-9_-]+`, so it is always a safe single path
/// segment in every storage.
pub fn is_valid_source_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
