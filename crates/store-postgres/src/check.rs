//! [`PostgresCheck`]: the format check `lifeboat verify` runs on a postgres dump, without any
//! server: the custom format's `PGDMP` header, a plain script's header and "dump complete"
//! trailer, and a bundle's framing with each part checked the same way.

use std::collections::HashSet;
use std::process::Stdio;

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

use crate::bundle::{BundleReader, PartKind};
use crate::error::PostgresError;
use crate::metadata::PostgresMetadata;
use crate::{FORMAT_BUNDLE, FORMAT_CUSTOM, FORMAT_PLAIN};

/// The format check `verify` runs on a dump of one of [`DUMP_FORMATS`](crate::DUMP_FORMATS).
#[derive(Debug, Default)]
pub struct PostgresCheck;

impl PostgresCheck {
    /// The check.
    pub fn new() -> Self {
        Self
    }
}

/// What a checked dump (or bundle part) held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DumpSummary {
    pub(crate) bytes: u64,
    /// `major.minor.rev` of the custom archive format.
    pub(crate) archive_version: Option<String>,
    /// What `pg_restore --list` read from a custom archive's table of contents.
    pub(crate) toc: Option<TocSummary>,
}

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
struct TocLister {
    child: Child,
    stdin: Option<ChildStdin>,
    listing: JoinHandle<TocSummary>,
    stderr: JoinHandle<String>,
}

impl TocLister {
    /// Starts `pg_restore --list`; `None` when pg_restore is not installed here (the check then
    /// relies on the header and the checksums alone).
    fn start(expected_tables: Vec<String>) -> Option<TocLister> {
        let mut child = match Command::new("pg_restore")
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
                    "pg_restore is not available ({e}): the table of contents is not checked"
                );
                return None;
            }
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
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
        // Keeps the first 64 KiB of stderr but reads it to the end: a pg_restore blocked on a
        // full stderr pipe would stop reading its stdin and hang the check.
        let stderr = tokio::spawn(async move {
            let Some(mut stderr) = stderr else {
                return String::new();
            };
            let mut kept = Vec::new();
            let mut buffer = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                let room = (64 * 1024usize).saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buffer[..room]);
            }
            String::from_utf8_lossy(&kept).into_owned()
        });
        Some(TocLister {
            child,
            stdin,
            listing,
            stderr,
        })
    }

    /// Hands pg_restore the next bytes, until it stops reading.
    async fn feed(&mut self, chunk: &[u8]) {
        if let Some(stdin) = &mut self.stdin {
            if stdin.write_all(chunk).await.is_err() {
                // pg_restore has read the table of contents and exited.
                self.stdin = None;
            }
        }
    }

    async fn finish(mut self) -> Result<TocSummary, String> {
        drop(self.stdin.take());
        let status = self.child.wait().await.map_err(|e| e.to_string())?;
        let stderr = self.stderr.await.unwrap_or_default();
        let listing = self.listing.await.map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!(
                "pg_restore --list cannot read its table of contents ({status}): {}",
                stderr.trim()
            ));
        }
        Ok(listing)
    }
}

/// What a dump of a format must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `pg_dump -Fc`.
    Custom,
    /// `pg_dump -Fp`.
    Plain,
    /// `pg_dumpall --globals-only`.
    Globals,
}

impl Shape {
    pub(crate) fn for_format(format: &str) -> Option<Shape> {
        match format {
            "custom" => Some(Shape::Custom),
            "plain" => Some(Shape::Plain),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Shape::Custom => FORMAT_CUSTOM,
            Shape::Plain => FORMAT_PLAIN,
            Shape::Globals => "pg_dumpall globals script",
        }
    }
}

const TAIL: usize = 512;

/// Reads `input` to EOF and checks it is a dump of `shape`.
///
/// For the custom format with `toc_tables` (`schema name` of every table the manifest
/// counts; empty for a schema-only dump), the archive is also listed by `pg_restore --list`
/// while it streams by, and every expected table must have a `TABLE DATA` entry.
pub(crate) async fn check_dump(
    input: &mut (dyn AsyncRead + Send + Unpin),
    shape: Shape,
    toc_tables: Option<Vec<String>>,
) -> Result<DumpSummary, PostgresError> {
    let bad = |reason: &str| PostgresError::BadDump {
        format: shape.name().to_string(),
        reason: reason.to_string(),
    };
    let mut lister = match (shape, toc_tables) {
        (Shape::Custom, Some(tables)) => TocLister::start(tables),
        _ => None,
    };
    let mut head = Vec::with_capacity(64);
    let mut tail: Vec<u8> = Vec::with_capacity(2 * TAIL);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = input
            .read(&mut buffer)
            .await
            .map_err(|source| PostgresError::Input { source })?;
        if n == 0 {
            break;
        }
        let chunk = &buffer[..n];
        if let Some(lister) = &mut lister {
            lister.feed(chunk).await;
        }
        if head.len() < 64 {
            let take = (64 - head.len()).min(n);
            head.extend_from_slice(&chunk[..take]);
        }
        tail.extend_from_slice(&chunk[n.saturating_sub(TAIL)..]);
        if tail.len() > TAIL {
            tail.drain(..tail.len() - TAIL);
        }
        bytes += n as u64;
    }
    if bytes == 0 {
        return Err(bad("it is empty"));
    }
    let tail_text = String::from_utf8_lossy(&tail);
    let head_text = String::from_utf8_lossy(&head);
    let archive_version = match shape {
        Shape::Custom => {
            // "PGDMP", version major, minor, revision, int size, offset size, format (1 = custom).
            if !head.starts_with(b"PGDMP") {
                return Err(bad("no PGDMP header"));
            }
            if head.len() < 11 {
                return Err(bad("the header is cut short"));
            }
            if head[10] != 1 {
                return Err(bad("the archive is not in custom format"));
            }
            Some(format!("{}.{}.{}", head[5], head[6], head[7]))
        }
        Shape::Plain => {
            if !head_text.starts_with("--\n-- PostgreSQL database dump\n") {
                return Err(bad("it does not start like a pg_dump SQL script"));
            }
            if !tail_text.contains("-- PostgreSQL database dump complete") {
                return Err(bad("the \"PostgreSQL database dump complete\" trailer is missing: the script is cut short"));
            }
            None
        }
        Shape::Globals => {
            if !head_text.starts_with("--\n-- PostgreSQL database cluster dump\n") {
                return Err(bad("it does not start like a pg_dumpall script"));
            }
            if !tail_text.contains("-- PostgreSQL database cluster dump complete") {
                return Err(bad("the \"cluster dump complete\" trailer is missing"));
            }
            None
        }
    };
    let toc = match lister {
        Some(lister) => {
            let toc = lister.finish().await.map_err(|reason| bad(&reason))?;
            if !toc.missing.is_empty() {
                return Err(bad(&format!(
                    "the table of contents has no data for {} of the manifest's tables: {}",
                    toc.missing.len(),
                    toc.missing
                        .iter()
                        .take(10)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            Some(toc)
        }
        None => None,
    };
    Ok(DumpSummary {
        bytes,
        archive_version,
        toc,
    })
}

/// `schema name` of every table `meta` counts (what `pg_restore --list` prints), or none for
/// a schema-only dump.
fn toc_tables(
    metadata: &PostgresMetadata,
    database: &crate::metadata::DatabaseMetadata,
) -> Vec<String> {
    if metadata.schema_only {
        return Vec::new();
    }
    database
        .tables
        .keys()
        .map(|key| key.replacen('.', " ", 1))
        .collect()
}

fn toc_json(toc: &Option<TocSummary>) -> serde_json::Value {
    match toc {
        Some(toc) => serde_json::json!({
            "dbname": toc.dbname,
            "entries": toc.entries,
            "table_data": toc.table_data,
        }),
        None => serde_json::Value::Null,
    }
}

/// Checks a whole artifact of `manifest` (any postgres dump format) against its metadata.
pub(crate) async fn check_artifact(
    input: &mut (dyn AsyncRead + Send + Unpin),
    manifest: &Manifest,
) -> Result<Report, PostgresError> {
    let metadata = PostgresMetadata::from_value(&manifest.metadata).map_err(|e| {
        PostgresError::BadManifest {
            reason: e.to_string(),
        }
    })?;
    match manifest.dump_format.as_str() {
        FORMAT_CUSTOM | FORMAT_PLAIN => {
            let shape = if manifest.dump_format == FORMAT_CUSTOM {
                Shape::Custom
            } else {
                Shape::Plain
            };
            let expected = metadata.databases.first().map(|d| toc_tables(&metadata, d));
            let summary = check_dump(input, shape, expected).await?;
            let database = metadata.databases.first().map(|d| d.name.clone());
            if let (Some(toc), Some(name)) = (&summary.toc, &database) {
                if toc.dbname.as_ref().is_some_and(|dbname| dbname != name) {
                    return Err(PostgresError::BadDump {
                        format: manifest.dump_format.clone(),
                        reason: format!(
                            "the archive is a dump of database {:?}, the manifest says `{name}`",
                            toc.dbname.as_deref().unwrap_or_default()
                        ),
                    });
                }
            }
            Ok(Report {
                summary: format!(
                    "{} of database {} is well-formed ({} bytes)",
                    manifest.dump_format,
                    database.as_deref().unwrap_or("?"),
                    summary.bytes
                ),
                details: serde_json::json!({
                    "format": manifest.dump_format,
                    "bytes": summary.bytes,
                    "archive_version": summary.archive_version,
                    "toc": toc_json(&summary.toc),
                    "databases": database.into_iter().collect::<Vec<_>>(),
                }),
            })
        }
        FORMAT_BUNDLE => {
            let bad = |reason: String| PostgresError::BadDump {
                format: FORMAT_BUNDLE.into(),
                reason,
            };
            let mut reader = BundleReader::new(input);
            let mut parts = Vec::new();
            let mut seen_databases = Vec::new();
            while let Some(header) = reader
                .next_part()
                .await
                .map_err(|source| PostgresError::Input { source })?
            {
                let shape = match header.kind {
                    PartKind::Globals => Shape::Globals,
                    PartKind::Database => Shape::for_format(&header.format).ok_or_else(|| {
                        bad(format!(
                            "part `{}` has format `{}`",
                            header.name, header.format
                        ))
                    })?,
                };
                let meta = header
                    .database
                    .as_ref()
                    .and_then(|name| metadata.databases.iter().find(|d| &d.name == name));
                let expected = meta.map(|d| toc_tables(&metadata, d));
                let summary = check_dump(&mut reader, shape, expected).await?;
                if let Some(database) = &header.database {
                    if let Some(meta) = metadata.databases.iter().find(|d| &d.name == database) {
                        if meta.dump_bytes != summary.bytes {
                            return Err(bad(format!(
                                "the dump of `{database}` holds {} bytes, the manifest says {}",
                                summary.bytes, meta.dump_bytes
                            )));
                        }
                    }
                    seen_databases.push(database.clone());
                }
                parts.push(serde_json::json!({
                    "name": header.name,
                    "format": header.format,
                    "bytes": summary.bytes,
                    "toc": toc_json(&summary.toc),
                }));
            }
            let expected: Vec<String> = metadata.databases.iter().map(|d| d.name.clone()).collect();
            if seen_databases != expected {
                return Err(bad(format!(
                    "the bundle holds databases {seen_databases:?}, the manifest lists {expected:?}"
                )));
            }
            Ok(Report {
                summary: format!(
                    "pg_dump-bundle is well-formed: {} parts ({})",
                    parts.len(),
                    expected.join(", ")
                ),
                details: serde_json::json!({ "format": FORMAT_BUNDLE, "parts": parts }),
            })
        }
        other => Err(PostgresError::WrongDumpFormat {
            found: other.to_string(),
        }),
    }
}

#[async_trait]
impl FormatCheck for PostgresCheck {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    async fn check(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, StoreError> {
        Ok(check_artifact(input, manifest).await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn check(data: &[u8], shape: Shape) -> Result<DumpSummary, PostgresError> {
        let mut input: &[u8] = data;
        check_dump(&mut input, shape, None).await
    }

    #[tokio::test]
    async fn custom_needs_its_header() {
        let mut dump = b"PGDMP\x01\x0e\x00\x04\x08\x01".to_vec();
        dump.extend_from_slice(&[0u8; 100]);
        assert_eq!(
            check(&dump, Shape::Custom)
                .await
                .unwrap()
                .archive_version
                .as_deref(),
            Some("1.14.0")
        );
        assert!(check(b"", Shape::Custom).await.is_err());
        assert!(check(b"SQLite format 3\0", Shape::Custom).await.is_err());
        dump[10] = 3;
        assert!(check(&dump, Shape::Custom).await.is_err());
    }

    #[tokio::test]
    async fn plain_needs_header_and_trailer() {
        let good = "--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE t();\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict x\n\n";
        assert!(check(good.as_bytes(), Shape::Plain).await.is_ok());
        let cut = &good[..good.len() - 60];
        let err = check(cut.as_bytes(), Shape::Plain).await.unwrap_err();
        assert_eq!(err.kind(), backup_core::StoreErrorKind::Corrupt);
        assert!(check(b"CREATE TABLE t();", Shape::Plain).await.is_err());
    }
}
