//! [`PostgresDrill`]: `lifeboat verify --deep` — restore into a scratch database on the
//! source's server, compare with the manifest, drop the scratch database.

use std::time::Instant;

use async_trait::async_trait;
use backup_core::scratch_name::{self, ScratchName};
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use serde::Serialize;
use tokio::io::AsyncRead;

use crate::bundle::{BundleReader, PartKind};
use crate::conn::ConnInfo;
use crate::error::{PostgresError, Step};
use crate::format::ArtifactFormat;
use crate::metadata::{DatabaseMetadata, PostgresMetadata};
use crate::options::{DumpFormat, PostgresOptions};
use crate::restore::Loader;
use crate::FORMAT_BUNDLE;

/// `verify --deep`: a restore drill. Each database of the backup is restored into a scratch
/// database `lifeboat_verify_<time>_<host+boot>_<pid>_<random>` (with `_<n>` per database of a
/// bundle; see [`backup_core::scratch_name`]) on the source's server; every table's exact row
/// count, the large objects and the schema hash are compared with the manifest, and the
/// scratch database is dropped whatever happened. A difference is an integrity failure
/// (exit 13). A drill killed outright cannot drop its database: each drill first drops the
/// scratch databases whose drill is provably gone (never a user's database, whose name
/// cannot have that shape, nor one of a drill still running).
#[derive(Debug)]
pub struct PostgresDrill {
    options: PostgresOptions,
    conn: ConnInfo,
}

impl PostgresDrill {
    /// A drill for the source with `options` (no I/O).
    pub fn new(options: &PostgresOptions) -> Result<Self, PostgresError> {
        options.validate()?;
        Ok(Self {
            options: options.clone(),
            conn: options.conn()?,
        })
    }

    async fn drill_one(
        &self,
        loader: &Loader<'_>,
        meta: &DatabaseMetadata,
        scratch: &ConnInfo,
        format: DumpFormat,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<Drilled, PostgresError> {
        // The name carries a random part, so no other drill uses it; should it exist anyway, it
        // can only be a leftover of this very name, never another drill's database.
        loader.drop_database(scratch).await?;
        loader.create_database(scratch, meta).await?;
        let result = async {
            let started = Instant::now();
            loader.load(scratch, format, false, true, input).await?;
            let restore_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let comparison = loader
                .compare(scratch, meta, true, meta.schema_hash.is_some())
                .await?;
            Ok::<_, PostgresError>((restore_ms, comparison))
        }
        .await;
        loader.drop_quietly(scratch).await;
        let (restore_ms, comparison) = result?;
        if !comparison.differences.is_empty() {
            return Err(PostgresError::RowCounts {
                database: meta.name.clone(),
                differences: comparison.differences,
            });
        }
        if let (Some(expected), Some(actual)) = (&meta.schema_hash, &comparison.schema_hash) {
            if expected != actual {
                return Err(PostgresError::SchemaHash {
                    database: meta.name.clone(),
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
        }
        Ok(Drilled {
            database: meta.name.clone(),
            scratch_database: scratch.database().to_string(),
            tables_compared: comparison.tables_compared,
            rows: comparison.rows,
            row_counts_match: true,
            large_objects: meta.large_objects,
            schema_hash: meta.schema_hash.clone(),
            schema_hash_match: comparison
                .schema_hash
                .as_ref()
                .map(|h| Some(h) == meta.schema_hash.as_ref()),
            restore_ms,
            sslmode: scratch.ssl_mode(),
            tls: comparison.tls,
        })
    }

    async fn run(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, PostgresError> {
        let format = ArtifactFormat::of(manifest)?;
        let metadata: PostgresMetadata = manifest
            .metadata_as()
            .map_err(|source| PostgresError::BadManifest { source })?;
        let loader = Loader::new(&self.options);
        self.drop_orphans(&loader).await;
        let base = scratch_name::new_name(SCRATCH_PREFIX);
        let started = Instant::now();
        let mut results = Vec::new();
        if let Some(format) = format.single() {
            let meta = metadata
                .databases
                .first()
                .ok_or(PostgresError::NoDatabase)?;
            let scratch = self.conn.with_database(&base);
            results.push(
                self.drill_one(&loader, meta, &scratch, format, input)
                    .await?,
            );
        } else {
            let mut reader = BundleReader::new(input);
            let mut index = 0;
            while let Some(header) = reader
                .next_part()
                .await
                .map_err(|source| PostgresError::Input { source })?
            {
                if header.kind == PartKind::Globals {
                    // The next `next_part` skips the part's payload.
                    continue;
                }
                let name = header.database.clone().unwrap_or_default();
                let meta = metadata
                    .databases
                    .iter()
                    .find(|d| d.name == name)
                    .ok_or_else(|| PostgresError::BadDump {
                        format: FORMAT_BUNDLE.into(),
                        reason: format!("part `{}` is not in the manifest", header.name),
                    })?;
                index += 1;
                let scratch = self.conn.with_database(&format!("{base}_{index}"));
                let format = DumpFormat::parse(&header.format).unwrap_or(metadata.format);
                results.push(
                    self.drill_one(&loader, meta, &scratch, format, &mut reader)
                        .await?,
                );
            }
        }
        let restore_ms: u64 = results.iter().map(|r| r.restore_ms).sum();
        let rows: u64 = results.iter().map(|r| r.rows).sum();
        Ok(Report {
            summary: format!(
                "restore drill passed: {} database(s), {rows} rows match the manifest, restored in {restore_ms} ms",
                results.len()
            ),
            details: serde_json::json!({
                "databases": results,
                "restore_ms": restore_ms,
                "drill_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
        })
    }
}

impl PostgresDrill {
    /// Drops the scratch databases left by drills that are gone. Best effort: a failure is
    /// logged, and the drill goes on.
    async fn drop_orphans(&self, loader: &Loader<'_>) {
        let maintenance = self.conn.with_database(&self.options.maintenance_database);
        let names: Vec<String> = match maintenance.connect().await {
            Ok(client) => match client
                .query("SELECT datname FROM pg_catalog.pg_database", &[])
                .await
            {
                Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
                Err(e) => {
                    let e = PostgresError::query(Step::Databases, &maintenance, e);
                    tracing::warn!("cannot look for scratch databases of dead drills: {e}");
                    return;
                }
            },
            Err(e) => {
                tracing::warn!("cannot look for scratch databases of dead drills: {e}");
                return;
            }
        };
        for name in names {
            let Some(why) = ScratchName::parse(SCRATCH_PREFIX, &name).and_then(|n| n.orphaned())
            else {
                continue;
            };
            tracing::warn!(database = %name, "dropping the scratch database of a restore drill that died: {why}");
            loader.drop_quietly(&self.conn.with_database(&name)).await;
        }
    }
}

/// The prefix of scratch database names.
const SCRATCH_PREFIX: &str = "lifeboat_verify_";

/// One database's drill, as the report's `details.databases[]` shows it.
#[derive(Debug, Serialize)]
struct Drilled {
    /// The backup's database.
    database: String,
    /// The scratch database it was restored into (dropped again).
    scratch_database: String,
    tables_compared: usize,
    rows: u64,
    row_counts_match: bool,
    large_objects: u64,
    schema_hash: Option<String>,
    /// `None` when the backup has no schema hash (a filtered dump).
    schema_hash_match: Option<bool>,
    restore_ms: u64,
    sslmode: &'static str,
    /// The TLS version of the comparing connection, `None` if unencrypted.
    tls: Option<String>,
}

#[async_trait]
impl FormatCheck for PostgresDrill {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    async fn check(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, StoreError> {
        Ok(self.run(input, manifest).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_are_recognisable_and_fit_with_a_bundle_part() {
        let a = scratch_name::new_name(SCRATCH_PREFIX);
        let b = scratch_name::new_name(SCRATCH_PREFIX);
        assert_ne!(a, b);
        let with_part = format!("{a}_99999999");
        assert!(with_part.len() <= 63, "{with_part}");
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        let parsed = ScratchName::parse(SCRATCH_PREFIX, &with_part).unwrap();
        assert_eq!(parsed.pid, std::process::id());
    }
}
