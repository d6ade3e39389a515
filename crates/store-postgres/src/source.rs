//! [`PostgresSource`]: snapshot-consistent `pg_dump` backups.

use async_trait::async_trait;
use backup_core::{Preflight, Source, StoreError};
use tokio::io::AsyncWrite;
use tokio_postgres::Client;

use crate::bundle::{BundleWriter, PartHeader, PartKind};
use crate::catalog::{self, Relation};
use crate::conn::ConnInfo;
use crate::error::{PostgresError, Step};
use crate::format::ArtifactFormat;
use crate::metadata::{DatabaseMetadata, PostgresMetadata};
use crate::options::{DumpFormat, PostgresOptions};
use crate::tools::{ToolRun, Tools};
use crate::KIND;

/// The backup side of a PostgreSQL source.
///
/// Each database is dumped by `pg_dump --snapshot` from a REPEATABLE READ transaction that
/// lifeboat holds open (and counts every table's rows in, while pg_dump runs), so the row
/// counts in the manifest describe exactly the dumped data. `new` does no I/O.
#[derive(Debug)]
pub struct PostgresSource {
    options: PostgresOptions,
    conn: ConnInfo,
    tools: Tools,
    databases: Vec<String>,
}

impl PostgresSource {
    /// A source with these options; checks them without touching the server.
    pub fn new(options: PostgresOptions) -> Result<Self, PostgresError> {
        options.validate()?;
        let conn = options.conn()?;
        let databases = if options.databases.is_empty() {
            vec![conn.database().to_string()]
        } else {
            options.databases.clone()
        };
        Ok(Self {
            tools: Tools::new(options.bin_dir.as_deref()),
            options,
            conn,
            databases,
        })
    }

    fn is_bundle(&self) -> bool {
        self.databases.len() > 1 || self.options.globals
    }

    /// The artifact this source writes.
    fn artifact(&self) -> ArtifactFormat {
        if self.is_bundle() {
            ArtifactFormat::Bundle
        } else {
            ArtifactFormat::of_dump(self.options.format)
        }
    }

    /// Connects to the first database and checks the client tools against the server.
    async fn connect_checked(&self) -> Result<Checked, PostgresError> {
        let first = self.conn.with_database(&self.databases[0]);
        let client = first.connect().await?;
        let (version, version_num) =
            catalog::server_version(&client, &first, Step::Preflight).await?;
        let tls = catalog::tls_version(&client, &first, Step::Preflight).await?;
        let pg_dump = self
            .tools
            .check_compatible("pg_dump", &version, version_num, &first)
            .await?;
        if self.options.globals {
            self.tools
                .check_compatible("pg_dumpall", &version, version_num, &first)
                .await?;
        }
        Ok(Checked {
            version,
            version_num,
            pg_dump_version: pg_dump.text,
            tls,
        })
    }

    async fn backup_inner(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<PostgresMetadata, PostgresError> {
        let checked = self.connect_checked().await?;
        let mut databases = Vec::new();
        if self.is_bundle() {
            let output = |source| PostgresError::Output {
                server: self.conn.describe(),
                source,
            };
            let mut bundle = BundleWriter::start(out).await.map_err(output)?;
            if self.options.globals {
                let header = PartHeader {
                    name: "globals".into(),
                    kind: PartKind::Globals,
                    database: None,
                    format: DumpFormat::Plain.as_str().into(),
                };
                let mut part = bundle.part(&header).await.map_err(output)?;
                let conn = self.conn.with_database(&self.options.maintenance_database);
                let run = ToolRun::new(
                    self.tools.program("pg_dumpall"),
                    vec![
                        "--globals-only".into(),
                        "--no-password".into(),
                        "-l".into(),
                        self.options.maintenance_database.clone(),
                    ],
                    &conn,
                );
                run.stream_into(&mut part).await?;
                part.finish().await.map_err(output)?;
            }
            for database in &self.databases {
                let header = PartHeader {
                    name: format!("db:{database}"),
                    kind: PartKind::Database,
                    database: Some(database.clone()),
                    format: self.options.format.as_str().into(),
                };
                let mut part = bundle.part(&header).await.map_err(output)?;
                databases.push(self.dump_database(database, &mut part).await?);
                part.finish().await.map_err(output)?;
            }
            bundle.finish().await.map_err(output)?;
        } else {
            databases.push(self.dump_database(&self.databases[0], out).await?);
        }
        Ok(PostgresMetadata {
            server: self.conn.describe(),
            server_version: checked.version,
            server_version_num: checked.version_num,
            pg_dump_version: checked.pg_dump_version,
            tls: checked.tls,
            format: self.options.format,
            schema_only: self.options.schema_only,
            filtered: self.is_filtered(),
            globals: self.options.globals,
            databases,
        })
    }

    fn is_filtered(&self) -> bool {
        !self.options.tables.is_empty() || !self.options.exclude_tables.is_empty()
    }

    /// Dumps one database from an exported snapshot, counting its rows in that snapshot while
    /// pg_dump runs.
    async fn dump_database(
        &self,
        database: &str,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<DatabaseMetadata, PostgresError> {
        let conn = self.conn.with_database(database);
        let client = conn.connect().await?;
        let snapshot_error =
            |e: tokio_postgres::Error| PostgresError::query(Step::Snapshot, &conn, e);
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(snapshot_error)?;
        let snapshot: String = client
            .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
            .await
            .map_err(snapshot_error)?
            .get(0);
        let facts = catalog::database_facts(&client, &conn, Step::Snapshot).await?;
        let (tables, mut args) = self.select_tables(&client, &conn).await?;
        args.push(format!("--snapshot={snapshot}"));
        let run = ToolRun::new(self.tools.program("pg_dump"), args, &conn);
        tracing::info!(database = %conn.describe(), snapshot = %snapshot, tables = tables.len(), "dumping");

        let schema_only = self.options.schema_only;
        let filtered = self.is_filtered();
        // pg_dump leaves large objects out with `--table` or `--schema-only`, but not with
        // `--exclude-table` alone: count them exactly when the dump holds them.
        let dumps_large_objects = !schema_only && self.options.tables.is_empty();
        let counting = async {
            let counts = if schema_only {
                tables.iter().map(|t| (t.key(), 0)).collect()
            } else {
                catalog::row_counts(&client, &conn, &tables).await?
            };
            let large_objects = if dumps_large_objects {
                catalog::large_objects(&client, &conn).await?
            } else {
                0
            };
            let hash = if filtered {
                None
            } else {
                Some(catalog::schema_hash(&client, &conn).await?)
            };
            Ok::<_, PostgresError>((counts, large_objects, hash))
        };
        let (dump_bytes, (tables, large_objects, schema_hash)) =
            tokio::try_join!(run.stream_into(out), counting)?;
        // pg_dump has exited: the snapshot may go.
        client
            .batch_execute("COMMIT")
            .await
            .map_err(snapshot_error)?;
        Ok(DatabaseMetadata {
            name: database.to_string(),
            size_bytes: facts.size_bytes,
            encoding: facts.encoding,
            lc_collate: facts.lc_collate,
            lc_ctype: facts.lc_ctype,
            table_count: tables.len(),
            tables,
            large_objects,
            schema_hash,
            dump_bytes,
        })
    }

    /// The tables whose rows the dump holds, and pg_dump's arguments (without the snapshot).
    /// `tables` / `exclude_tables` patterns are resolved here, in the snapshot, and pg_dump gets
    /// the exact relations, so counts and dump cover the same tables.
    async fn select_tables(
        &self,
        client: &Client,
        conn: &ConnInfo,
    ) -> Result<(Vec<Relation>, Vec<String>), PostgresError> {
        let mut args = vec![
            format!("--format={}", self.options.format.as_str()),
            "--no-password".to_string(),
            format!(
                "--lock-wait-timeout={}s",
                self.options.lock_wait_timeout.as_secs().max(1)
            ),
        ];
        if self.options.format == DumpFormat::Custom {
            args.push("--compress=0".to_string());
        }
        if self.options.schema_only {
            args.push("--schema-only".to_string());
        }
        let mut tables = catalog::data_tables(client, conn).await?;
        if !self.options.tables.is_empty() {
            let included = catalog::resolve_patterns(client, conn, &self.options.tables).await?;
            if included.is_empty() {
                return Err(PostgresError::BadOption {
                    option: "tables",
                    reason: format!(
                        "{:?} match no table in database `{}`",
                        self.options.tables,
                        conn.database()
                    ),
                });
            }
            tables.retain(|t| included.iter().any(|(r, kind)| *kind == 'r' && r == t));
            for (relation, _) in &included {
                args.push(format!("--table={}", relation.exact_pattern()));
            }
        }
        if !self.options.exclude_tables.is_empty() {
            let excluded =
                catalog::resolve_patterns(client, conn, &self.options.exclude_tables).await?;
            tables.retain(|t| !excluded.iter().any(|(r, _)| r == t));
            for (relation, _) in &excluded {
                args.push(format!("--exclude-table={}", relation.exact_pattern()));
            }
        }
        Ok((tables, args))
    }
}

/// What [`PostgresSource::connect_checked`] found out.
struct Checked {
    version: String,
    version_num: u32,
    pg_dump_version: String,
    tls: Option<String>,
}

#[async_trait]
impl Source for PostgresSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn dump_format(&self) -> &'static str {
        self.artifact().name()
    }

    fn extension(&self) -> &'static str {
        self.artifact().extension()
    }

    async fn preflight(&self) -> Result<Preflight, StoreError> {
        let checked = self.connect_checked().await?;
        let mut total = 0u64;
        let mut databases = Vec::new();
        for database in &self.databases {
            let conn = self.conn.with_database(database);
            let client = conn.connect().await?;
            let facts = catalog::database_facts(&client, &conn, Step::Preflight).await?;
            let tables = catalog::data_tables(&client, &conn).await?;
            let hash = catalog::schema_hash(&client, &conn).await?;
            total += facts.size_bytes;
            databases.push(serde_json::json!({
                "name": database,
                "size_bytes": facts.size_bytes,
                "tables": tables.len(),
                "schema_hash": hash,
            }));
        }
        Ok(Preflight {
            version: Some(checked.version),
            estimated_bytes: Some(total),
            details: serde_json::json!({
                "server": self.conn.describe(),
                "sslmode": self.conn.ssl_mode(),
                "tls": checked.tls,
                "pg_dump_version": checked.pg_dump_version,
                "format": self.dump_format(),
                "databases": databases,
            }),
        })
    }

    async fn backup(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<backup_core::Dumped, StoreError> {
        let metadata = self.backup_inner(out).await?;
        backup_core::Dumped::new(&metadata)
    }
}
