//! [`PostgresMetadata`]: what a backup's manifest records about the dumped databases (no
//! secrets: the server appears only as its redacted URL).
//!
//! Read back with `manifest.metadata_as::<PostgresMetadata>()`. Every field has a serde
//! default, so a manifest written by an earlier (or later) lifeboat that lacks a field still
//! reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::options::DumpFormat;

/// The store metadata in a postgres backup's manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostgresMetadata {
    /// The server, as a redacted URL (`postgres://user@host:port/database`).
    pub server: String,
    /// `server_version` of the server, e.g. `15.20 (Debian 15.20-0+deb12u1)`.
    pub server_version: String,
    /// `server_version_num`, e.g. 150020.
    pub server_version_num: u32,
    /// The version of the `pg_dump` that wrote the dump, e.g. `15.20`.
    pub pg_dump_version: String,
    /// `custom` or `plain`: the format of the dump, or of each database's dump in a bundle.
    pub format: DumpFormat,
    /// Whether only the schema was dumped (the row counts are then all 0: the dump's content).
    pub schema_only: bool,
    /// Whether `tables` / `exclude_tables` limited the dump (the schema hash is then absent).
    pub filtered: bool,
    /// Whether the bundle holds `pg_dumpall --globals-only` (roles, tablespaces).
    pub globals: bool,
    /// The TLS version of lifeboat's connection to the server as the server reported it
    /// (`pg_stat_ssl`), e.g. `TLSv1.3`; `None` for an unencrypted connection (or a backup
    /// written before lifeboat recorded it).
    pub tls: Option<String>,
    /// Every dumped database, in dump order.
    pub databases: Vec<DatabaseMetadata>,
}

/// One dumped database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseMetadata {
    /// The database's name.
    pub name: String,
    /// `pg_database_size` when the backup started.
    pub size_bytes: u64,
    /// The database's encoding, e.g. `UTF8` (used when a restore creates the database).
    pub encoding: String,
    /// `datcollate`.
    pub lc_collate: String,
    /// `datctype`.
    pub lc_ctype: String,
    /// How many tables `tables` holds.
    pub table_count: usize,
    /// Exact row count of every dumped table (`schema.table`), counted in the snapshot the
    /// dump was taken from. Partitioned tables appear as their partitions.
    pub tables: BTreeMap<String, u64>,
    /// Large objects in the dump (0 with `tables` or `schema_only`, which leave them out;
    /// `exclude_tables` alone keeps them, like `pg_dump -T`).
    pub large_objects: u64,
    /// sha256 over the schema's description (relations, columns, constraints, indexes,
    /// functions, types, triggers, views, sequences); absent when the dump was filtered.
    pub schema_hash: Option<String>,
    /// Bytes of this database's dump.
    pub dump_bytes: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_of_an_earlier_version_still_reads() {
        // Written before lifeboat recorded `tls`; a database without `large_objects`.
        let manifest = lifeboat_testing::manifest(
            crate::KIND,
            crate::FORMAT_CUSTOM,
            serde_json::json!({
                "server": "postgres://backup@db:5432/orders",
                "server_version": "15.20",
                "server_version_num": 150020,
                "pg_dump_version": "15.20",
                "format": "custom",
                "schema_only": false,
                "filtered": false,
                "globals": false,
                "databases": [{
                    "name": "orders",
                    "size_bytes": 1,
                    "encoding": "UTF8",
                    "lc_collate": "C",
                    "lc_ctype": "C",
                    "table_count": 1,
                    "tables": { "public.items": 3 },
                    "schema_hash": null,
                    "dump_bytes": 10
                }]
            }),
        );
        let metadata: PostgresMetadata = manifest.metadata_as().unwrap();
        assert_eq!(metadata.tls, None);
        assert_eq!(metadata.format, DumpFormat::Custom);
        assert_eq!(metadata.databases[0].tables["public.items"], 3);
        assert_eq!(metadata.databases[0].large_objects, 0);
    }

    #[test]
    fn it_serializes_as_before() {
        let metadata = PostgresMetadata {
            format: DumpFormat::Plain,
            ..PostgresMetadata::default()
        };
        let value = serde_json::to_value(&metadata).unwrap();
        assert_eq!(value["format"], "plain");
        assert_eq!(value["tls"], serde_json::Value::Null);
    }
}
