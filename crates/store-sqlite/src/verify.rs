//! Checking a staged copy: header magic, size, `PRAGMA integrity_check`, row counts against the
//! manifest. Shared by the restore target and the `verify` format check.

use std::path::Path;

use lifeboat_edge::copy::CopyError;
use tokio::io::AsyncRead;

use crate::error::{SqliteError, Step};
use crate::files::{check_magic, open_private_copy};
use crate::metadata::SqliteMetadata;

/// How many `integrity_check` messages an error quotes.
const MAX_MESSAGES: usize = 10;

/// What a successful check found.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    /// The copy's own metadata.
    pub metadata: SqliteMetadata,
    /// Whether the manifest had row counts to compare with.
    pub counts_checked: bool,
}

impl Verified {
    /// The details shared by the restore and check reports.
    pub(crate) fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "integrity_check": "ok",
            "row_counts_checked": self.counts_checked,
            "tables": self.metadata.tables,
            "total_rows": self.metadata.total_rows(),
            "size_bytes": self.metadata.size_bytes,
            "page_size": self.metadata.page_size,
            "page_count": self.metadata.page_count,
            "user_version": self.metadata.user_version,
        })
    }

    /// `3 tables (1,234 rows)`.
    pub(crate) fn tables_text(&self) -> String {
        let tables = self.metadata.tables.len();
        let rows = self.metadata.total_rows();
        format!(
            "{} table{} ({} row{})",
            tables,
            if tables == 1 { "" } else { "s" },
            thousands(rows),
            if rows == 1 { "" } else { "s" },
        )
    }
}

/// Streams `input` to its EOF into `file` (the stage at `path`) through one bounded buffer
/// and flushes it, telling a failing input (a damaged backup) from a failing disk. Returns the
/// number of bytes written.
pub(crate) async fn stage_stream(
    input: &mut (dyn AsyncRead + Send + Unpin),
    file: &mut tokio::fs::File,
    path: &Path,
) -> Result<u64, SqliteError> {
    lifeboat_edge::copy::copy(input, file)
        .await
        .map_err(|err| match err {
            CopyError::Read(source) => SqliteError::Input {
                path: path.to_path_buf(),
                source,
            },
            CopyError::Write(source) => SqliteError::io(Step::Stage, path, source),
        })
}

/// Checks the staged database at `path` against the manifest's metadata, if it has any
/// (blocking: run it in `spawn_blocking`).
pub(crate) fn verify_file(
    path: &Path,
    expected: Option<&SqliteMetadata>,
) -> Result<Verified, SqliteError> {
    check_magic(path)?;
    if let Some(expected_size) = expected.map(|expected| expected.size_bytes) {
        let actual = std::fs::metadata(path)
            .map_err(|source| SqliteError::io(Step::Integrity, path, source))?
            .len();
        if actual != expected_size {
            return Err(SqliteError::SizeMismatch {
                expected: expected_size,
                actual,
            });
        }
    }

    let conn = open_private_copy(path, Step::Integrity)?;
    integrity_check(&conn, path)?;
    // Reading the metadata walks every table, so errors here are integrity errors too.
    let metadata = SqliteMetadata::read(&conn, path, Step::Integrity)?;
    drop(conn);

    let counts_checked = match expected {
        Some(expected) => {
            compare_tables(&expected.tables, &metadata)?;
            true
        }
        None => {
            tracing::warn!(
                path = %path.display(),
                "the manifest has no table row counts: only the integrity check was done"
            );
            false
        }
    };
    Ok(Verified {
        metadata,
        counts_checked,
    })
}

fn integrity_check(conn: &rusqlite::Connection, path: &Path) -> Result<(), SqliteError> {
    let err = |source| SqliteError::sqlite(Step::Integrity, path, source);
    let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut messages = Vec::new();
    let mut total = 0usize;
    while let Some(row) = rows.next().map_err(err)? {
        let message: String = row.get(0).map_err(err)?;
        total += 1;
        if messages.len() < MAX_MESSAGES {
            messages.push(message);
        }
    }
    if total == 1 && messages.first().is_some_and(|m| m == "ok") {
        return Ok(());
    }
    if total > messages.len() {
        messages.push(format!("… and {} more", total - messages.len()));
    }
    if messages.is_empty() {
        messages.push("PRAGMA integrity_check returned nothing".to_string());
    }
    Err(SqliteError::Integrity { messages })
}

fn compare_tables(
    expected: &std::collections::BTreeMap<String, u64>,
    found: &SqliteMetadata,
) -> Result<(), SqliteError> {
    for (table, &rows) in expected {
        let actual = found.tables.get(table).copied();
        if actual != Some(rows) {
            return Err(SqliteError::RowCount {
                table: table.clone(),
                expected: Some(rows),
                actual,
            });
        }
    }
    if let Some((table, &rows)) = found
        .tables
        .iter()
        .find(|(table, _)| !expected.contains_key(*table))
    {
        return Err(SqliteError::RowCount {
            table: table.clone(),
            expected: None,
            actual: Some(rows),
        });
    }
    Ok(())
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
