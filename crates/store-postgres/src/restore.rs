//! Loading a dump into a database, shared by [`PostgresTarget`](crate::PostgresTarget) and
//! [`PostgresDrill`](crate::PostgresDrill): inspecting, creating and dropping databases,
//! feeding `pg_restore` / `psql`, and comparing the result with the manifest.

use std::time::Instant;

use lifeboat_edge::copy::{copy, CopyError};
use tokio::io::AsyncRead;

use crate::catalog;
use crate::conn::ConnInfo;
use crate::error::{PostgresError, Step};
use crate::metadata::DatabaseMetadata;
use crate::options::{DumpFormat, PostgresOptions};
use crate::sql::{dbname_conninfo, quote_ident, quote_literal};
use crate::tools::{ToolRun, Tools};

/// What a restore target looks like before anything is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetState {
    /// Whether the database exists.
    pub(crate) exists: bool,
    /// How many user objects it holds (0: empty).
    pub(crate) objects: u64,
    /// A few of them, by name.
    pub(crate) sample: Vec<String>,
}

impl TargetState {
    pub(crate) fn describe(&self) -> String {
        if !self.exists {
            "does not exist".to_string()
        } else if self.objects == 0 {
            "exists and is empty".to_string()
        } else {
            format!(
                "holds {} objects: {}{}",
                self.objects,
                self.sample.join(", "),
                if self.objects as usize > self.sample.len() {
                    ", ..."
                } else {
                    ""
                }
            )
        }
    }
}

/// How a restored database compares with the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Comparison {
    pub(crate) tables_compared: usize,
    pub(crate) rows: u64,
    pub(crate) differences: Vec<String>,
    pub(crate) schema_hash: Option<String>,
    /// The TLS version of the comparing connection (`pg_stat_ssl`), `None` if unencrypted.
    pub(crate) tls: Option<String>,
}

/// One database restored.
#[derive(Debug, Clone)]
pub(crate) struct Restored {
    pub(crate) created: bool,
    pub(crate) cleaned: bool,
    pub(crate) comparison: Comparison,
    pub(crate) restore_ms: u64,
    pub(crate) bytes: u64,
}

/// Restores dumps with the client tools of a source's options.
pub(crate) struct Loader<'a> {
    pub(crate) options: &'a PostgresOptions,
    pub(crate) tools: Tools,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(options: &'a PostgresOptions) -> Self {
        Self {
            options,
            tools: Tools::new(options.bin_dir.as_deref()),
        }
    }

    fn maintenance(&self, conn: &ConnInfo) -> ConnInfo {
        conn.with_database(&self.options.maintenance_database)
    }

    /// Whether `conn`'s database exists and what it holds.
    pub(crate) async fn inspect(&self, conn: &ConnInfo) -> Result<TargetState, PostgresError> {
        let maintenance = self.maintenance(conn);
        let client = maintenance.connect().await?;
        if !catalog::database_exists(&client, &maintenance, conn.database()).await? {
            return Ok(TargetState {
                exists: false,
                objects: 0,
                sample: Vec::new(),
            });
        }
        drop(client);
        let client = conn.connect().await?;
        let (objects, sample) = catalog::user_objects(&client, conn).await?;
        Ok(TargetState {
            exists: true,
            objects,
            sample,
        })
    }

    /// Creates `conn`'s database from `template0` with the dumped database's encoding and
    /// locale (or the server's defaults when that locale does not exist here).
    pub(crate) async fn create_database(
        &self,
        conn: &ConnInfo,
        meta: &DatabaseMetadata,
    ) -> Result<(), PostgresError> {
        let maintenance = self.maintenance(conn);
        let client = maintenance.connect().await?;
        let name = quote_ident(conn.database());
        let with_locale = format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote_literal(&meta.encoding),
            quote_literal(&meta.lc_collate),
            quote_literal(&meta.lc_ctype)
        );
        if let Err(first) = maintenance
            .execute(&client, Step::CreateDatabase, &with_locale)
            .await
        {
            // Only a locale this server lacks (or one that does not fit the encoding) is worth
            // a second try; anything else (permissions, the name taken, a lost connection)
            // would fail again or, worse, succeed with the wrong locale for the wrong reason.
            if !is_locale_error(&first) {
                return Err(first);
            }
            tracing::warn!("{first}; creating it with the server's default locale instead");
            let plain = format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING {}",
                quote_literal(&meta.encoding)
            );
            maintenance
                .execute(&client, Step::CreateDatabase, &plain)
                .await?;
        }
        tracing::info!(database = %conn.describe(), "created database");
        Ok(())
    }

    /// Drops `conn`'s database (disconnecting any session left on it).
    pub(crate) async fn drop_database(&self, conn: &ConnInfo) -> Result<(), PostgresError> {
        let maintenance = self.maintenance(conn);
        let client = maintenance.connect().await?;
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(conn.database())
        );
        maintenance
            .execute(&client, Step::DropDatabase, &sql)
            .await?;
        tracing::info!(database = %conn.describe(), "dropped database");
        Ok(())
    }

    /// Drops a database this run created, logging (not returning) a failure to do so.
    pub(crate) async fn drop_quietly(&self, conn: &ConnInfo) {
        if let Err(e) = self.drop_database(conn).await {
            tracing::error!(database = %conn.describe(), "could not drop the database again: {e}");
        }
    }

    /// Feeds the dump in `input` into `conn`'s database. `clean` adds
    /// `--clean --if-exists` (custom format only). `created`: this run created the database
    /// and drops it again on failure, so `restore_jobs > 1` may restore it in parallel (not in
    /// one transaction); into a database that existed before, the restore always runs in one
    /// transaction, so a failure midway leaves it exactly as it was.
    pub(crate) async fn load(
        &self,
        conn: &ConnInfo,
        format: DumpFormat,
        clean: bool,
        created: bool,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<u64, PostgresError> {
        match format {
            DumpFormat::Plain => {
                // One transaction: a dump that breaks off midway (or fails) rolls back whole.
                let args = vec![
                    "-X".to_string(),
                    "-q".to_string(),
                    "--no-password".to_string(),
                    "-v".to_string(),
                    "ON_ERROR_STOP=1".to_string(),
                    "--single-transaction".to_string(),
                    format!("--dbname={}", dbname_conninfo(conn.database())),
                    "-f".to_string(),
                    "-".to_string(),
                ];
                ToolRun::new(self.tools.program("psql"), args, conn)
                    .feed_from(input)
                    .await
            }
            DumpFormat::Custom => {
                let mut args = vec![
                    "--no-password".to_string(),
                    "--exit-on-error".to_string(),
                    format!("--dbname={}", dbname_conninfo(conn.database())),
                ];
                if self.options.no_owner {
                    args.push("--no-owner".to_string());
                }
                if clean {
                    args.push("--clean".to_string());
                    args.push("--if-exists".to_string());
                }
                if self.options.restore_jobs > 1 && created {
                    self.load_parallel(conn, args, input).await
                } else {
                    if self.options.restore_jobs > 1 {
                        tracing::info!(
                            database = %conn.describe(),
                            "restoring in one transaction, not with {} jobs: the database \
                             existed before, and a parallel restore failing midway would leave \
                             it half restored",
                            self.options.restore_jobs
                        );
                    }
                    // Streamed from stdin in one transaction: a stream that fails midway kills
                    // pg_restore before its input ends, and the server rolls everything back.
                    args.push("--single-transaction".to_string());
                    ToolRun::new(self.tools.program("pg_restore"), args, conn)
                        .feed_from(input)
                        .await
                }
            }
        }
    }

    /// `pg_restore -j N` needs a seekable file (it reads the table of contents, then each
    /// table's data at its offset from several processes), so this is the one path that copies
    /// the dump to a temporary file: a private (0600) temp file of the system's temp folder,
    /// not a `staged` file, because nothing is ever renamed into place — pg_restore reads it
    /// and it goes. It is read to EOF before anything is restored, and removed on every path:
    /// explicitly after pg_restore, and by `NamedTempFile`'s drop when a step fails or the
    /// restore is cancelled. `-j` cannot run in one transaction; the stream is complete and
    /// checksummed before pg_restore starts, so a broken artifact still changes nothing.
    async fn load_parallel(
        &self,
        conn: &ConnInfo,
        mut args: Vec<String>,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<u64, PostgresError> {
        let io = |what: &str| {
            let what = what.to_string();
            move |source| PostgresError::Io { what, source }
        };
        let staged = tempfile::Builder::new()
            .prefix("lifeboat-pg-restore-")
            .suffix(".dump")
            .tempfile()
            .map_err(io("creating the staging file for pg_restore -j"))?;
        let mut file = tokio::fs::File::from_std(
            staged
                .reopen()
                .map_err(io("opening the staging file for pg_restore -j"))?,
        );
        let bytes = copy(input, &mut file).await.map_err(|e| match e {
            CopyError::Read(source) => PostgresError::Input { source },
            CopyError::Write(source) => PostgresError::Io {
                what: "writing the staging file for pg_restore -j".into(),
                source,
            },
        })?;
        drop(file);
        args.push(format!("--jobs={}", self.options.restore_jobs));
        args.push(staged.path().display().to_string());
        ToolRun::new(self.tools.program("pg_restore"), args, conn)
            .run()
            .await?;
        staged.close().map_err(io("removing the staging file"))?;
        Ok(bytes)
    }

    /// Restores one database's dump into `conn`: refuses a non-empty database without
    /// `force`, creates a missing one (and drops it again if anything fails), loads, and
    /// compares row counts with the manifest.
    pub(crate) async fn restore_database(
        &self,
        conn: &ConnInfo,
        meta: &DatabaseMetadata,
        format: DumpFormat,
        force: bool,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<Restored, PostgresError> {
        let state = self.inspect(conn).await?;
        refuse_if_needed(conn, &state, format, force)?;
        let created = !state.exists;
        if created {
            self.create_database(conn, meta).await?;
        }
        let cleaned = state.objects > 0;
        let started = Instant::now();
        let result = async {
            let bytes = self.load(conn, format, cleaned, created, input).await?;
            let restore_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let comparison = self.compare(conn, meta, !cleaned, false).await?;
            if !comparison.differences.is_empty() {
                return Err(PostgresError::RowCounts {
                    database: conn.database().to_string(),
                    differences: comparison.differences,
                });
            }
            Ok((bytes, restore_ms, comparison))
        }
        .await;
        match result {
            Ok((bytes, restore_ms, comparison)) => Ok(Restored {
                created,
                cleaned,
                comparison,
                restore_ms,
                bytes,
            }),
            Err(e) => {
                if created {
                    self.drop_quietly(conn).await;
                }
                Err(e)
            }
        }
    }

    /// Compares `conn`'s database with the manifest: every table's exact row count (`strict`:
    /// tables the backup does not hold and large objects count as differences too), and with
    /// `hash` the schema hash.
    pub(crate) async fn compare(
        &self,
        conn: &ConnInfo,
        meta: &DatabaseMetadata,
        strict: bool,
        hash: bool,
    ) -> Result<Comparison, PostgresError> {
        let client = conn.connect().await?;
        let tls = catalog::tls_version(&client, conn, Step::RowCounts).await?;
        let tables = catalog::data_tables(&client, conn).await?;
        let counts = catalog::row_counts(&client, conn, &tables).await?;
        let mut differences = Vec::new();
        for (table, expected) in &meta.tables {
            match counts.get(table) {
                None => differences.push(format!("{table}: missing (manifest: {expected} rows)")),
                Some(actual) if actual != expected => differences.push(format!(
                    "{table}: {actual} rows, the manifest says {expected}"
                )),
                Some(_) => {}
            }
        }
        if strict {
            for table in counts.keys().filter(|t| !meta.tables.contains_key(*t)) {
                differences.push(format!("{table}: not in the backup"));
            }
            let large_objects = catalog::large_objects(&client, conn).await?;
            if large_objects != meta.large_objects {
                differences.push(format!(
                    "large objects: {large_objects}, the manifest says {}",
                    meta.large_objects
                ));
            }
        }
        let schema_hash = if hash {
            Some(catalog::schema_hash(&client, conn).await?)
        } else {
            None
        };
        Ok(Comparison {
            tables_compared: meta.tables.len(),
            rows: meta.tables.keys().filter_map(|t| counts.get(t)).sum(),
            differences,
            schema_hash,
            tls,
        })
    }

    /// Runs a bundle's globals script with `psql` (no single transaction and no stop on
    /// error: roles that exist already are reported as warnings in the log, not fatal).
    pub(crate) async fn load_globals(
        &self,
        conn: &ConnInfo,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(), PostgresError> {
        let maintenance = self.maintenance(conn);
        let args = vec![
            "-X".to_string(),
            "-q".to_string(),
            "--no-password".to_string(),
            format!("--dbname={}", dbname_conninfo(maintenance.database())),
            "-f".to_string(),
            "-".to_string(),
        ];
        ToolRun::new(self.tools.program("psql"), args, &maintenance)
            .feed_from(input)
            .await?;
        Ok(())
    }
}

/// The refusal rules: a non-empty database needs `force`, and a plain dump cannot clean one.
pub(crate) fn refuse_if_needed(
    conn: &ConnInfo,
    state: &TargetState,
    format: DumpFormat,
    force: bool,
) -> Result<(), PostgresError> {
    if state.objects > 0 {
        if !force {
            return Err(PostgresError::TargetNotEmpty {
                server: conn.describe(),
                found: state.describe(),
            });
        }
        if format == DumpFormat::Plain {
            return Err(PostgresError::PlainCannotClean {
                server: conn.describe(),
            });
        }
    }
    Ok(())
}

/// Whether `CREATE DATABASE … LC_COLLATE … LC_CTYPE …` failed because of the locale:
/// PostgreSQL reports an unknown locale name as `wrong_object_type` and a locale that does
/// not match the encoding as `invalid_parameter_value`.
fn is_locale_error(error: &PostgresError) -> bool {
    use tokio_postgres::error::SqlState;
    match error {
        PostgresError::Query { source, .. } => matches!(
            source.code(),
            Some(code) if *code == SqlState::WRONG_OBJECT_TYPE || *code == SqlState::INVALID_PARAMETER_VALUE
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeboat_testing::postgres::{unique_name, SERVER};

    /// Runs `sql` on the test server and returns the error it gave, as the restore sees it.
    async fn error_of(sql: &str) -> Option<PostgresError> {
        let conn = ConnInfo::parse(
            &format!("{SERVER}/postgres"),
            None,
            None,
            std::time::Duration::from_secs(10),
        )
        .expect("url");
        let client = match conn.connect().await {
            Ok(client) => client,
            Err(err) => {
                lifeboat_testing::service_unavailable(format_args!(
                    "PostgreSQL at {SERVER} unreachable ({err})"
                ));
                return None;
            }
        };
        conn.execute(&client, Step::CreateDatabase, sql).await.err()
    }

    #[tokio::test]
    async fn only_locale_errors_earn_a_second_create_database() {
        let name = unique_name("lifeboat_locale");
        let Some(bogus_locale) = error_of(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE 'xx_XX.nope' LC_CTYPE 'xx_XX.nope'"
        ))
        .await
        else {
            return;
        };
        assert!(is_locale_error(&bogus_locale), "{bogus_locale}");

        // The name is taken: a second try with another locale would only hide the reason.
        let Some(taken) = error_of("CREATE DATABASE postgres TEMPLATE template0").await else {
            return;
        };
        assert!(!is_locale_error(&taken), "{taken}");
    }
}
