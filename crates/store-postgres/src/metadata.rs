//! [`PostgresMetadata`]: what a backup's manifest records about the dumped databases (no
//! secrets: the server appears only as its redacted URL).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The store metadata in a postgres backup's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostgresMetadata {
    /// The server, as a redacted URL (`postgres://user@host:port/database`).
    pub server: String,
    /// `server_version` of the server, e.g. `15.20 (Debian 15.20-0+deb12u1)`.
    pub server_version: String,
    /// `server_version_num`, e.g. 150020.
    pub server_version_num: u32,
    /// The version of the `pg_dump` that wrote the dump, e.g. `15.20`.
    pub pg_dump_version: String,
    /// `custom` or `plain`.
    pub format: String,
    /// Whether only the schema was dumped (the row counts are then all 0: the dump's content).
    pub schema_only: bool,
    /// Whether `tables` / `exclude_tables` limited the dump (the schema hash is then absent).
    pub filtered: bool,
    /// Whether the bundle holds `pg_dumpall --globals-only` (roles, tablespaces).
    pub globals: bool,
    /// The TLS version of lifeboat's connection to the server as the server reported it
    /// (`pg_stat_ssl`), e.g. `TLSv1.3`; `None` for an unencrypted connection (or a backup
    /// written before lifeboat recorded it).
    #[serde(default)]
    pub tls: Option<String>,
    /// Every dumped database, in dump order.
    pub databases: Vec<DatabaseMetadata>,
}

/// One dumped database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

impl PostgresMetadata {
    /// Reads the metadata of a manifest.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value.clone())
    }
}
