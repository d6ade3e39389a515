//! The metrics file for the node exporter's textfile collector: its format and its atomic
//! write.

use std::collections::HashSet;
use std::path::Path;

use lifeboat_edge::staged::StageError;

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

/// Writes `text` to `path` atomically, for the node exporter's textfile collector, through
/// a staged file beside it (hidden, not `*.prom`, so the collector never reads it half
/// written), synced, renamed over `path`, the folder synced. Mode 0644: the collector often
/// runs as another user, and the metrics hold no secret.
pub fn write_textfile(path: &Path, text: &str) -> Result<(), StageError> {
    lifeboat_edge::staged::write_atomically(path, text.as_bytes(), 0o644)
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
        let StageError::Io { source, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert!(!missing.exists());
    }
}
