//! [`TocLister`]: `pg_restore --list` reading a custom archive's table of contents from its
//! stdin while the format check streams the archive by — no server involved.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

use crate::error::PostgresError;
use crate::tools::collect_tail;

/// A custom archive's table of contents as `pg_restore --list` printed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TocSummary {
    /// The `dbname:` of the archive header.
    pub(crate) dbname: Option<String>,
    /// TOC entries listed.
    pub(crate) entries: u64,
    /// `TABLE DATA` entries.
    pub(crate) table_data: u64,
    /// Tables the caller expected data for that the listing lacks.
    pub(crate) missing: Vec<String>,
}

/// `pg_restore --list` reading the archive from its stdin while the check reads the stream:
/// pg_restore stops after the table of contents (its stdin is then closed and the check goes
/// on reading to EOF alone). No server is involved.
pub(crate) struct TocLister {
    child: Child,
    stdin: Option<ChildStdin>,
    listing: JoinHandle<TocSummary>,
    stderr: JoinHandle<String>,
}

impl TocLister {
    /// Starts `pg_restore --list`; `None` when pg_restore is not installed here (the check then
    /// relies on the header and the checksums alone).
    pub(crate) fn start(pg_restore: PathBuf, expected_tables: Vec<String>) -> Option<TocLister> {
        let mut child = match Command::new(&pg_restore)
            .arg("--list")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                tracing::warn!(
                    "{} is not available ({e}): the table of contents is not checked",
                    pg_restore.display()
                );
                return None;
            }
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let listing = tokio::spawn(async move {
            let mut summary = TocSummary::default();
            let mut expected: HashSet<String> = expected_tables.into_iter().collect();
            let Some(stdout) = stdout else {
                return summary;
            };
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(name) = line.strip_prefix(";     dbname: ") {
                    summary.dbname = Some(name.to_string());
                }
                if line.is_empty() || line.starts_with(';') {
                    continue;
                }
                summary.entries += 1;
                if let Some((_, rest)) = line.split_once(" TABLE DATA ") {
                    summary.table_data += 1;
                    // `schema tag owner`: drop the owner.
                    if let Some((table, _owner)) = rest.rsplit_once(' ') {
                        expected.remove(table);
                    }
                }
            }
            let mut missing: Vec<String> = expected.into_iter().collect();
            missing.sort();
            summary.missing = missing;
            summary
        });
        // Read to the end (its last bytes kept): a pg_restore blocked on a full stderr pipe
        // would stop reading its stdin and hang the check.
        let stderr = collect_tail(&mut child);
        Some(TocLister {
            child,
            stdin,
            listing,
            stderr,
        })
    }

    /// Hands pg_restore the next bytes, until it stops reading.
    pub(crate) async fn feed(&mut self, chunk: &[u8]) {
        if let Some(stdin) = &mut self.stdin {
            if stdin.write_all(chunk).await.is_err() {
                // pg_restore has read the table of contents and exited.
                self.stdin = None;
            }
        }
    }

    /// Waits for pg_restore: the listing, or why the archive's table of contents does not
    /// read (a bad dump of `format`).
    pub(crate) async fn finish(mut self, format: &str) -> Result<TocSummary, PostgresError> {
        drop(self.stdin.take());
        let status = self
            .child
            .wait()
            .await
            .map_err(|source| PostgresError::Io {
                what: "waiting for `pg_restore --list`".to_string(),
                source,
            })?;
        let stderr = self.stderr.await.unwrap_or_default();
        let listing = self.listing.await?;
        if !status.success() {
            return Err(PostgresError::BadDump {
                format: format.to_string(),
                reason: format!(
                    "pg_restore --list cannot read its table of contents ({status}): {}",
                    stderr.trim()
                ),
            });
        }
        Ok(listing)
    }
}
