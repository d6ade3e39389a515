//! The metrics file for the node exporter's textfile collector: its format and its atomic
//! write.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Turns the OpenMetrics text of [`super::Metrics::encode`] into the Prometheus text format
/// (0.0.4), which is what the node exporter's textfile collector parses: a counter family's
/// `# HELP` and `# TYPE` lines name it with its `_total` suffix, as its samples do; `# UNIT`
/// and `# EOF` are dropped; type `unknown` becomes `untyped`. Samples are unchanged.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|keyword| Some((keyword, line.strip_prefix(keyword)?)));
        match descriptor {
            Some((keyword, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                text.push_str(keyword);
                text.push_str(name);
                if counters.contains(name) {
                    text.push_str("_total");
                }
                text.push(' ');
                text.push_str(if keyword == "# TYPE " && tail == "unknown" {
                    "untyped"
                } else {
                    tail
                });
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// Writes `text` to `path` atomically, for the node exporter's textfile collector: into
/// `PATH.tmp-<pid>` in the same folder (which the collector ignores: it reads `*.prom`), synced
/// to disk, then renamed over `path`, so a reader sees the old file or the new one, never half
/// of one. The file is mode 0644 on Unix (the collector often runs as another user; the
/// metrics hold no secret). On failure the temp file is removed.
pub fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = temp_path(path)?;
    let result = write_and_sync(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(err) = result {
        // Best effort: the write failed already, the error says why.
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    sync_parent(path);
    Ok(())
}

/// `PATH.tmp-<pid>` beside `path`.
fn temp_path(path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    Ok(path.with_file_name(tmp_name))
}

fn write_and_sync(tmp: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o644);
    }
    let mut file = options.open(tmp)?;
    #[cfg(unix)]
    {
        // The mode above is filtered by the umask; the collector must be able to read it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Syncs the folder so the rename survives a crash (Unix; best effort: the file is in place).
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::metrics::{BackupRecord, Metrics};

    #[test]
    fn counters_are_named_with_total_and_openmetrics_only_lines_go() {
        let metrics = Metrics::new();
        metrics.record_backup(
            "app",
            &BackupRecord {
                success: true,
                duration_seconds: 2.0,
                raw_bytes: Some(10),
                stored_bytes: Some(5),
                finished_at_unix: 1_800_000_000,
            },
        );
        let text = metrics.encode_textfile().unwrap();
        for line in [
            "# HELP lifeboat_backup_success_total Backups that reached every storage.\n",
            "# TYPE lifeboat_backup_success_total counter\n",
            "lifeboat_backup_success_total{source=\"app\"} 1\n",
            "# TYPE lifeboat_notification_failure_total counter\n",
            "# TYPE lifeboat_backup_size_bytes gauge\n",
            "lifeboat_backup_size_bytes{source=\"app\"} 5\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(!text.contains("# UNIT"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn unknown_becomes_untyped() {
        assert_eq!(
            to_prometheus_text("# TYPE x unknown\nx 1\n# EOF\n"),
            "# TYPE x untyped\nx 1\n"
        );
    }

    #[test]
    fn the_file_is_replaced_atomically_and_no_temp_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.prom");
        write_textfile(&path, "a 1\n").unwrap();
        write_textfile(&path, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("lifeboat.prom")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn a_write_into_a_missing_folder_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = write_textfile(&missing.join("m.prom"), "a 1\n").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(!missing.exists());
    }
}
