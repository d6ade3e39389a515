//! [`PostgresCheck`]: the format check `lifeboat verify` runs on a postgres dump, without any
//! server: the custom format's `PGDMP` header (and its table of contents, read by
//! `pg_restore --list`), a plain script's header and "dump complete" trailer, and a bundle's
//! framing with each part checked the same way.

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::bundle::{BundleReader, PartKind};
use crate::error::PostgresError;
use crate::format::ArtifactFormat;
use crate::metadata::{DatabaseMetadata, PostgresMetadata};
use crate::options::{DumpFormat, PostgresOptions};
use crate::toc::{TocLister, TocSummary};
use crate::tools::Tools;
use crate::{FORMAT_BUNDLE, FORMAT_CUSTOM, FORMAT_PLAIN};

/// The format check `verify` runs on a dump of one of [`FORMATS`](crate::FORMATS).
#[derive(Debug, Default)]
pub struct PostgresCheck {
    tools: Tools,
}

impl PostgresCheck {
    /// The check, running `pg_restore` from the `PATH`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The check for a source with `options`: `pg_restore` from its `bin_dir` when set.
    pub fn for_options(options: &PostgresOptions) -> Self {
        Self {
            tools: Tools::new(options.bin_dir.as_deref()),
        }
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
    fn of(format: DumpFormat) -> Shape {
        match format {
            DumpFormat::Custom => Shape::Custom,
            DumpFormat::Plain => Shape::Plain,
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
    tools: &Tools,
) -> Result<DumpSummary, PostgresError> {
    let bad = |reason: &str| PostgresError::BadDump {
        format: shape.name().to_string(),
        reason: reason.to_string(),
    };
    let mut lister = match (shape, toc_tables) {
        (Shape::Custom, Some(tables)) => TocLister::start(tools.program("pg_restore"), tables),
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
            let toc = lister.finish(shape.name()).await?;
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
fn toc_tables(metadata: &PostgresMetadata, database: &DatabaseMetadata) -> Vec<String> {
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
    tools: &Tools,
) -> Result<Report, PostgresError> {
    let format = ArtifactFormat::of(manifest)?;
    let metadata: PostgresMetadata = manifest
        .metadata_as()
        .map_err(|source| PostgresError::BadManifest { source })?;
    match format.single() {
        Some(dump) => check_single(input, format, dump, &metadata, tools).await,
        None => check_bundle(input, &metadata, tools).await,
    }
}

/// A one-database artifact: pg_dump's own output.
async fn check_single(
    input: &mut (dyn AsyncRead + Send + Unpin),
    format: ArtifactFormat,
    dump: DumpFormat,
    metadata: &PostgresMetadata,
    tools: &Tools,
) -> Result<Report, PostgresError> {
    let expected = metadata.databases.first().map(|d| toc_tables(metadata, d));
    let summary = check_dump(input, Shape::of(dump), expected, tools).await?;
    let database = metadata.databases.first().map(|d| d.name.clone());
    if let (Some(toc), Some(name)) = (&summary.toc, &database) {
        if toc.dbname.as_ref().is_some_and(|dbname| dbname != name) {
            return Err(PostgresError::BadDump {
                format: format.name().to_string(),
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
            format.name(),
            database.as_deref().unwrap_or("?"),
            summary.bytes
        ),
        details: serde_json::json!({
            "format": format.name(),
            "bytes": summary.bytes,
            "archive_version": summary.archive_version,
            "toc": toc_json(&summary.toc),
            "databases": database.into_iter().collect::<Vec<_>>(),
        }),
    })
}

/// A bundle: its framing, and each part as a dump of its own format.
async fn check_bundle(
    input: &mut (dyn AsyncRead + Send + Unpin),
    metadata: &PostgresMetadata,
    tools: &Tools,
) -> Result<Report, PostgresError> {
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
            PartKind::Database => DumpFormat::parse(&header.format)
                .map(Shape::of)
                .ok_or_else(|| {
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
        let expected = meta.map(|d| toc_tables(metadata, d));
        let summary = check_dump(&mut reader, shape, expected, tools).await?;
        if let Some(database) = &header.database {
            if let Some(meta) = meta {
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
        Ok(check_artifact(input, manifest, &self.tools).await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn check(data: &[u8], shape: Shape) -> Result<DumpSummary, PostgresError> {
        let mut input: &[u8] = data;
        check_dump(&mut input, shape, None, &Tools::default()).await
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
