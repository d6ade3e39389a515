//! The metadata this store records in the manifest, read from a copy of the database.

use std::collections::BTreeMap;
use std::path::Path;

use backup_core::Manifest;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::{SqliteError, Step};

/// What the SQLite store records in the manifest's `metadata` field, computed on the copy that
/// was streamed, so it describes exactly the dumped data.
///
/// As JSON:
///
/// ```json
/// {"sqlite_version": "3.50.2", "page_size": 4096, "page_count": 12, "size_bytes": 49152,
///  "user_version": 7, "tables": {"accounts": 10, "orders": 1234},
///  "indexes": 2, "views": 1, "triggers": 0, "virtual_tables": 0}
/// ```
///
/// A restore or check reads it back from the manifest and compares the copy's `tables`
/// and `size_bytes` with it: those two are required (every version of this store wrote
/// them), the descriptive fields take their defaults when missing, so older manifests read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqliteMetadata {
    /// The version of the SQLite library that made the copy.
    #[serde(default)]
    pub sqlite_version: String,
    /// `PRAGMA page_size` of the copy.
    #[serde(default)]
    pub page_size: u64,
    /// `PRAGMA page_count` of the copy.
    #[serde(default)]
    pub page_count: u64,
    /// The copy's size in bytes (the raw dump size).
    pub size_bytes: u64,
    /// `PRAGMA user_version` (applications use it as their schema version).
    #[serde(default)]
    pub user_version: i64,
    /// Exact row count of every user table (`sqlite_%` internal tables and virtual tables
    /// excluded; the rows of a virtual table such as FTS5 live in its shadow tables, which are
    /// ordinary tables and are counted).
    pub tables: BTreeMap<String, u64>,
    /// Number of indexes, automatic ones (`sqlite_autoindex_%`) excluded.
    #[serde(default)]
    pub indexes: u64,
    /// Number of views.
    #[serde(default)]
    pub views: u64,
    /// Number of triggers.
    #[serde(default)]
    pub triggers: u64,
    /// Number of virtual tables (not in `tables`: counting them needs their module).
    #[serde(default)]
    pub virtual_tables: u64,
}

impl SqliteMetadata {
    /// The metadata a backup recorded in `manifest`, or `None` for a manifest without any
    /// (`null`), which a restore then checks without row counts.
    /// Fails with [`SqliteError::BadManifest`] when the metadata is not of this shape.
    pub(crate) fn of(manifest: &Manifest) -> Result<Option<Self>, SqliteError> {
        manifest
            .metadata_as::<Option<Self>>()
            .map_err(|source| SqliteError::BadManifest { source })
    }

    /// Reads the metadata of the database open on `conn` (whose file is `path`, which must
    /// not change meanwhile) at `step`.
    pub(crate) fn read(conn: &Connection, path: &Path, step: Step) -> Result<Self, SqliteError> {
        let err = |source| SqliteError::sqlite(step, path, source);
        let size_bytes = std::fs::metadata(path)
            .map_err(|source| SqliteError::io(step, path, source))?
            .len();

        let sqlite_version: String = conn
            .query_row("SELECT sqlite_version()", [], |row| row.get(0))
            .map_err(err)?;
        let page_size = pragma_u64(conn, "page_size").map_err(err)?;
        let page_count = pragma_u64(conn, "page_count").map_err(err)?;
        let user_version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(err)?;

        let mut tables = BTreeMap::new();
        for name in user_tables(conn).map_err(err)? {
            let sql = format!("SELECT count(*) FROM main.{}", quote_identifier(&name));
            let rows: i64 = conn.query_row(&sql, [], |row| row.get(0)).map_err(err)?;
            tables.insert(name, u64::try_from(rows).unwrap_or(0));
        }

        Ok(Self {
            sqlite_version,
            page_size,
            page_count,
            size_bytes,
            user_version,
            tables,
            indexes: count_schema(conn, "type = 'index'").map_err(err)?,
            views: count_schema(conn, "type = 'view'").map_err(err)?,
            triggers: count_schema(conn, "type = 'trigger'").map_err(err)?,
            virtual_tables: count_schema(conn, VIRTUAL_TABLE).map_err(err)?,
        })
    }

    /// Total rows over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.values().sum()
    }

    /// The metadata as the JSON value stored in the manifest.
    pub fn to_json(&self) -> serde_json::Value {
        // Strings, integers and a string-keyed map: serialization cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// `sqlite_%` with `_` escaped: SQLite's own objects (`sqlite_sequence`, `sqlite_stat1`,
/// `sqlite_autoindex_…`), and only those.
const NOT_INTERNAL: &str = r"name NOT LIKE 'sqlite\_%' ESCAPE '\'";

const VIRTUAL_TABLE: &str = "type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'";

fn user_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let sql = format!(
        "SELECT name FROM main.sqlite_schema \
         WHERE type = 'table' AND {NOT_INTERNAL} AND NOT ({VIRTUAL_TABLE}) ORDER BY name"
    );
    let mut stmt = conn.prepare(&sql)?;
    let names = stmt.query_map([], |row| row.get::<_, String>(0))?;
    names.collect()
}

fn count_schema(conn: &Connection, condition: &str) -> rusqlite::Result<u64> {
    let sql =
        format!("SELECT count(*) FROM main.sqlite_schema WHERE {condition} AND {NOT_INTERNAL}");
    let count: i64 = conn.query_row(&sql, [], |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

pub(crate) fn pragma_u64(conn: &Connection, pragma: &str) -> rusqlite::Result<u64> {
    let value: i64 = conn.query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0))?;
    Ok(u64::try_from(value).unwrap_or(0))
}

/// Quotes an SQL identifier: `"` around it, inner `"` doubled.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_identifier("plain"), "\"plain\"");
        assert_eq!(quote_identifier("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn metadata_reads_from_a_manifest() {
        let read = |metadata| {
            SqliteMetadata::of(&lifeboat_testing::manifest("sqlite", "sqlite-db", metadata))
        };
        assert_eq!(read(serde_json::Value::Null).unwrap(), None);

        // An older manifest: no `virtual_tables`, nor (hand-written) the descriptive fields.
        let json = serde_json::json!({"tables": {"a": 3}, "size_bytes": 4096, "other": true});
        let metadata = read(json).unwrap().unwrap();
        assert_eq!(metadata.tables, BTreeMap::from([("a".to_string(), 3)]));
        assert_eq!((metadata.size_bytes, metadata.virtual_tables), (4096, 0));

        let err = read(serde_json::json!({"tables": ["a"], "size_bytes": 1})).unwrap_err();
        assert!(matches!(err, SqliteError::BadManifest { .. }), "{err}");
        let err = read(serde_json::json!({"size_bytes": 1})).unwrap_err();
        assert!(err.to_string().contains("tables"), "{err}");
    }
}
