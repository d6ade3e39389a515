//! [`PostgresTarget`]: restoring a backup into the source's database or `--to` another one.

use async_trait::async_trait;
use backup_core::{Manifest, Report, RestoreOptions, StoreError, Target};
use tokio::io::AsyncRead;

use crate::bundle::{BundleReader, PartKind};
use crate::check::check_artifact;
use crate::conn::ConnInfo;
use crate::error::PostgresError;
use crate::format::ArtifactFormat;
use crate::metadata::{DatabaseMetadata, PostgresMetadata};
use crate::options::{DumpFormat, PostgresOptions};
use crate::restore::{refuse_if_needed, Loader, Restored};
use crate::tools::Tools;
use crate::FORMAT_BUNDLE;

/// The restore side of a PostgreSQL source.
///
/// - Without `to`: each dumped database goes back to its own name on the source's server.
/// - With `to` (`postgres://user@host:port/db`): a one-database backup goes into `db`; a
///   bundle of several databases goes to that server, each database under its own name. A `to`
///   URL without a password uses the source's password.
///
/// A missing database is created (from `template0`, with the dumped encoding and locale) and
/// dropped again if the restore fails. A database holding anything outside the system schemas
/// is refused without `--force`; with it, the custom format restores with
/// `pg_restore --clean --if-exists` (a plain SQL dump cannot clean and is refused). The custom
/// format streams into `pg_restore --single-transaction --exit-on-error`, plain into
/// `psql -v ON_ERROR_STOP=1 --single-transaction`. The last chunk of the stream reaches the
/// tool only once the stream has reached EOF (pg_restore would otherwise commit on the last
/// data block, before a checksum failure reported where EOF would be), and a stream that fails
/// kills the tool before its input ends: the server rolls the transaction back, so nothing of
/// it stays (a database the restore created is dropped). `restore_jobs > 1` (not one
/// transaction) is used only for a database the restore creates. A bundle restores its
/// databases one after another: a failure drops the databases this restore created, but a
/// database already restored into an existing target stays restored (its part was complete;
/// the rest of the stream was not). Afterwards every table's row count is compared with the
/// manifest; a difference fails the restore.
#[derive(Debug)]
pub struct PostgresTarget {
    options: PostgresOptions,
    conn: ConnInfo,
    to: Option<ConnInfo>,
}

impl PostgresTarget {
    /// A target for the source with `options`, or `to` (a postgres URL) instead of the
    /// source's own database. No I/O.
    pub fn new(options: &PostgresOptions, to: Option<&str>) -> Result<Self, PostgresError> {
        options.validate()?;
        let conn = options.conn()?;
        let timeout = options.connect_timeout.as_std();
        let to = match to {
            None => None,
            Some(url) => {
                let parsed = ConnInfo::parse(url, None, options.tls_ca_file.as_deref(), timeout)?;
                Some(if parsed.has_password() {
                    parsed
                } else {
                    parsed.with_password_of(&conn)
                })
            }
        };
        Ok(Self {
            options: options.clone(),
            conn,
            to,
        })
    }

    /// The backup's format, its metadata, and where each of its databases goes.
    fn plan(&self, manifest: &Manifest) -> Result<Plan, PostgresError> {
        let format = ArtifactFormat::of(manifest)?;
        let metadata: PostgresMetadata = manifest
            .metadata_as()
            .map_err(|source| PostgresError::BadManifest { source })?;
        // A single dump's format is the artifact's; a bundle's parts name theirs, and the
        // metadata's is the source's `format` they were written with.
        let dump_format = format.single().unwrap_or(metadata.format);
        let single = metadata.databases.len() == 1;
        let databases = metadata
            .databases
            .into_iter()
            .map(|meta| {
                let conn = match &self.to {
                    Some(to) if single => to.clone(),
                    Some(to) => to.with_database(&meta.name),
                    None => self.conn.with_database(&meta.name),
                };
                (meta, conn)
            })
            .collect();
        Ok(Plan {
            format,
            dump_format,
            databases,
        })
    }

    async fn dry_run(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<Report, PostgresError> {
        let loader = Loader::new(&self.options);
        let plan = self.plan(manifest)?;
        let mut plans = Vec::new();
        let mut lines = Vec::new();
        for (meta, conn) in &plan.databases {
            let state = loader.inspect(conn).await?;
            let refusal = refuse_if_needed(conn, &state, plan.dump_format, options.force).err();
            let action = match (&refusal, state.exists, state.objects) {
                (Some(e), _, _) => format!("refused: {e}"),
                (None, false, _) => "would create the database and restore into it".to_string(),
                (None, true, 0) => "would restore into the empty database".to_string(),
                (None, true, _) => {
                    "would drop the backup's objects that exist (--clean --if-exists) and restore"
                        .to_string()
                }
            };
            lines.push(format!("{}: {action}", conn.describe()));
            plans.push(serde_json::json!({
                "database": meta.name,
                "target": conn.describe(),
                "exists": state.exists,
                "objects": state.objects,
                "found": state.sample,
                "action": action,
                "tables": meta.tables.len(),
            }));
        }
        let tools = Tools::new(self.options.bin_dir.as_deref());
        let check = check_artifact(input, manifest, &tools).await?;
        Ok(Report {
            summary: format!(
                "dry run, nothing changed; {}; {}",
                lines.join("; "),
                check.summary
            ),
            details: serde_json::json!({ "dry_run": true, "targets": plans, "check": check.details }),
        })
    }
}

/// What a restore of one backup does: its format, and each database with where it goes.
struct Plan {
    format: ArtifactFormat,
    /// The dump format of a single dump, or of a bundle's parts that do not say.
    dump_format: DumpFormat,
    databases: Vec<(DatabaseMetadata, ConnInfo)>,
}

fn restored_json(database: &str, conn: &ConnInfo, restored: &Restored) -> serde_json::Value {
    serde_json::json!({
        "database": database,
        "target": conn.describe(),
        "created": restored.created,
        "cleaned": restored.cleaned,
        "tables": restored.comparison.tables_compared,
        "rows": restored.comparison.rows,
        "bytes": restored.bytes,
        "restore_ms": restored.restore_ms,
    })
}

#[async_trait]
impl Target for PostgresTarget {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    fn describe(&self) -> String {
        self.to.as_ref().unwrap_or(&self.conn).describe()
    }

    async fn prepare(
        &self,
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<(), StoreError> {
        let loader = Loader::new(&self.options);
        let plan = self.plan(manifest)?;
        for (_, conn) in &plan.databases {
            let state = loader.inspect(conn).await?;
            if !options.dry_run {
                refuse_if_needed(conn, &state, plan.dump_format, options.force)?;
            }
        }
        Ok(())
    }

    async fn restore(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        if options.dry_run {
            return Ok(self.dry_run(input, manifest, options).await?);
        }
        let loader = Loader::new(&self.options);
        let plan = self.plan(manifest)?;
        if let Some(format) = plan.format.single() {
            let (meta, conn) = plan
                .databases
                .into_iter()
                .next()
                .ok_or(PostgresError::NoDatabase)?;
            let restored = loader
                .restore_database(&conn, &meta, format, options.force, input)
                .await?;
            return Ok(Report {
                summary: format!(
                    "restored database {} ({} tables, {} rows) into {}",
                    meta.name,
                    restored.comparison.tables_compared,
                    restored.comparison.rows,
                    conn.describe()
                ),
                details: serde_json::json!({ "databases": [restored_json(&meta.name, &conn, &restored)] }),
            });
        }

        let mut reader = BundleReader::new(input);
        let mut created: Vec<ConnInfo> = Vec::new();
        let mut done = Vec::new();
        let mut restored_names: Vec<String> = Vec::new();
        let result: Result<(), PostgresError> = async {
            while let Some(header) = reader
                .next_part()
                .await
                .map_err(|source| PostgresError::Input { source })?
            {
                match header.kind {
                    PartKind::Globals if self.options.restore_globals => {
                        let server = self.to.as_ref().unwrap_or(&self.conn);
                        loader.load_globals(server, &mut reader).await?;
                        done.push(serde_json::json!({ "globals": "applied" }));
                    }
                    // The next `next_part` skips the part's payload.
                    PartKind::Globals => {
                        done.push(
                            serde_json::json!({ "globals": "skipped (restore_globals = false)" }),
                        );
                    }
                    PartKind::Database => {
                        let name = header.database.clone().unwrap_or_default();
                        let Some((meta, conn)) =
                            plan.databases.iter().find(|(m, _)| m.name == name)
                        else {
                            return Err(PostgresError::BadDump {
                                format: FORMAT_BUNDLE.into(),
                                reason: format!("part `{}` is not in the manifest", header.name),
                            });
                        };
                        let part_format =
                            DumpFormat::parse(&header.format).unwrap_or(plan.dump_format);
                        let restored = loader
                            .restore_database(conn, meta, part_format, options.force, &mut reader)
                            .await?;
                        if restored.created {
                            created.push(conn.clone());
                        }
                        restored_names.push(meta.name.clone());
                        done.push(restored_json(&meta.name, conn, &restored));
                    }
                }
            }
            // The manifest lists what the bundle must hold: a database missing from it is a
            // bad artifact, not a successful restore.
            let missing: Vec<&str> = plan
                .databases
                .iter()
                .map(|(meta, _)| meta.name.as_str())
                .filter(|name| !restored_names.iter().any(|r| r == name))
                .collect();
            if !missing.is_empty() {
                return Err(PostgresError::BadDump {
                    format: FORMAT_BUNDLE.into(),
                    reason: format!("the bundle holds no dump of {}", missing.join(", ")),
                });
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            // A failed bundle restore leaves no database it created behind.
            for conn in &created {
                loader.drop_quietly(conn).await;
            }
            return Err(e.into());
        }
        Ok(Report {
            summary: format!(
                "restored {} databases from the bundle into {}",
                plan.databases.len(),
                self.describe()
            ),
            details: serde_json::json!({ "databases": done }),
        })
    }
}
