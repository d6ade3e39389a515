//! Scratch copies: folders a store makes in this host's temp folder when a tool needs a
//! seekable file (ARCHITECTURE.md, invariant 6: SQLite's backup API). They are named
//! `lifeboat-<kind>-<pid>-<random>` so that a later run can tell whose they are: a killed run
//! (its pid gone) leaves one behind, and the next backup or prune removes it.
//!
//! A folder is removed when its process is gone (per `/proc/<pid>`), or, when that cannot be
//! told or the pid is alive (a pid may be reused after a reboot), once it is older than the
//! grace period. The current process's own folders are never touched.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use time::{Duration, OffsetDateTime};

/// The start of every scratch folder's name.
const PREFIX: &str = "lifeboat-";

/// The name prefix of a scratch folder of `kind` made by this process:
/// `lifeboat-<kind>-<pid>-`; the store appends a random suffix.
pub fn scratch_prefix(kind: &str) -> String {
    format!("{PREFIX}{kind}-{}-", std::process::id())
}

/// One scratch folder found, and whether it is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScratchCopy {
    /// The folder.
    pub path: PathBuf,
    /// The bytes of the files in it.
    pub size: u64,
    /// The newest modification time of the folder and what it holds.
    pub last_modified: Option<OffsetDateTime>,
    /// The process that made it.
    pub pid: u32,
    /// Whether it is stale: its process is gone, or it is past the grace period.
    pub remove: bool,
}

/// `(kind, pid)` of a scratch folder's name, `lifeboat-<kind>-<pid>-<random>`.
fn parse(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_prefix(PREFIX)?;
    let (kind, rest) = rest.split_once('-')?;
    let (pid, random) = rest.split_once('-')?;
    if kind.is_empty()
        || !kind.bytes().all(|b| b.is_ascii_lowercase())
        || random.is_empty()
        || !pid.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((kind, pid.parse().ok()?))
}

/// Whether process `pid` exists on this host: `None` where there is no `/proc`.
fn process_alive(pid: u32) -> Option<bool> {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return None;
    }
    Some(proc_root.join(pid.to_string()).exists())
}

/// Bytes and newest modification time of `dir` and everything below it (scratch folders are a
/// file or two; symlinks are not followed).
fn measure(dir: &Path) -> io::Result<(u64, Option<SystemTime>)> {
    let meta = std::fs::symlink_metadata(dir)?;
    let mut newest = meta.modified().ok();
    let mut size = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            newest = newest.max(meta.modified().ok());
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                size += meta.len();
            }
        }
    }
    Ok((size, newest))
}

/// The scratch folders in `dir` (blocking), each judged stale or not at `now`. A missing
/// `dir` has none; entries that vanish while looked at are skipped.
pub fn find_scratch(
    dir: &Path,
    now: OffsetDateTime,
    grace: Duration,
) -> io::Result<Vec<ScratchCopy>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let own = std::process::id();
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some((_, pid)) = name.to_str().and_then(parse) else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir {
            continue;
        }
        let path = entry.path();
        let (size, newest) = match measure(&path) {
            Ok(measured) => measured,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            // Not ours to read (another user's): leave it to them.
            Err(err) if err.kind() == io::ErrorKind::PermissionDenied => continue,
            Err(err) => return Err(err),
        };
        let last_modified = newest.map(OffsetDateTime::from);
        let remove = pid != own
            && (process_alive(pid) == Some(false) || super::past_grace(last_modified, now, grace));
        found.push(ScratchCopy {
            path,
            size,
            last_modified,
            pid,
            remove,
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Removes the stale scratch folders of `found` (blocking); returns the bytes freed. One that
/// vanished meanwhile counts as removed.
pub fn remove_scratch(found: &[ScratchCopy]) -> io::Result<u64> {
    let mut freed = 0;
    for copy in found.iter().filter(|c| c.remove) {
        match std::fs::remove_dir_all(&copy.path) {
            Ok(()) => freed += copy.size,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(freed)
}

/// Removes the stale scratch folders in `dir`, logging rather than failing: a leftover must
/// never fail a good backup. For a store to call before it makes its own copy.
pub fn collect_stale_scratch(dir: &Path, grace: Duration) {
    let found = match find_scratch(dir, OffsetDateTime::now_utc(), grace) {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err, "could not look for stale scratch copies");
            return;
        }
    };
    match remove_scratch(&found) {
        Ok(0) => {}
        Ok(freed) => {
            tracing::info!(dir = %dir.display(), bytes = freed, "removed the scratch copies of killed runs")
        }
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err, "could not remove a stale scratch copy")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse("lifeboat-sqlite-123-AbC9x"), Some(("sqlite", 123)));
        assert_eq!(parse("lifeboat-sqlite-AbC9x"), None);
        assert_eq!(parse("lifeboat-sqlite-12-"), None);
        assert_eq!(parse("other-sqlite-12-x"), None);
        assert!(scratch_prefix("sqlite").starts_with("lifeboat-sqlite-"));
        let mine = format!("{}xyz", scratch_prefix("sqlite"));
        assert_eq!(parse(&mine), Some(("sqlite", std::process::id())));
    }

    #[test]
    fn dead_pids_and_old_folders_are_stale_and_ours_never() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that cannot be alive: above the kernel's pid_max limit (2^22).
        let dead = dir.path().join("lifeboat-sqlite-4194999-aaaaaa");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("snapshot.db"), vec![0u8; 1000]).unwrap();
        let mine = dir
            .path()
            .join(format!("{}bbbbbb", scratch_prefix("sqlite")));
        std::fs::create_dir(&mine).unwrap();
        let other = dir.path().join("unrelated");
        std::fs::create_dir(&other).unwrap();
        let now = OffsetDateTime::now_utc();

        let found = find_scratch(dir.path(), now, Duration::hours(24)).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        let dead_copy = found.iter().find(|c| c.path == dead).unwrap();
        assert!(dead_copy.remove);
        assert_eq!(dead_copy.size, 1000);
        assert!(!found.iter().find(|c| c.path == mine).unwrap().remove);
        // Even far past the grace, this process's own copy stays.
        let later =
            find_scratch(dir.path(), now + Duration::days(30), Duration::hours(24)).unwrap();
        assert!(!later.iter().find(|c| c.path == mine).unwrap().remove);

        assert_eq!(remove_scratch(&found).unwrap(), 1000);
        assert!(!dead.exists());
        assert!(mine.exists() && other.exists());
        assert!(
            find_scratch(&dir.path().join("missing"), now, Duration::ZERO)
                .unwrap()
                .is_empty()
        );
    }
}
