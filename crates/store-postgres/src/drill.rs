//! [`PostgresDrill`]: `lifeboat verify --deep` — restore into a scratch database on the
//! source's server, compare with the manifest, drop the scratch database.

use std::time::Instant;

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use tokio::io::AsyncRead;

use crate::bundle::{BundleReader, PartKind};
use crate::conn::ConnInfo;
use crate::error::PostgresError;
use crate::metadata::{DatabaseMetadata, PostgresMetadata};
use crate::options::{DumpFormat, PostgresOptions};
use crate::restore::Loader;
use crate::source::conn_for;
use crate::{FORMAT_BUNDLE, FORMAT_PLAIN};

/// `verify --deep`: a restore drill. Each database of the backup is restored into
/// `lifeboat_verify_<backup id>` (lower-cased, `[a-z0-9_]`, with `_<n>` per database of a
/// bundle) on the source's server; every table's exact row count, the large objects and the
/// schema hash are compared with the manifest, and the scratch database is dropped whatever
/// happened. A difference is an integrity failure (exit 13).
#[derive(Debug)]
pub struct PostgresDrill {
    options: PostgresOptions,
    conn: ConnInfo,
}

impl PostgresDrill {
    /// A drill for the source with `options` (no I/O).
    pub fn new(options: &PostgresOptions) -> Result<Self, PostgresError> {
        Ok(Self {
            options: options.clone(),
            conn: conn_for(options)?,
        })
    }

    async fn drill_one(
        &self,
        loader: &Loader<'_>,
        meta: &DatabaseMetadata,
        scratch: &ConnInfo,
        format: DumpFormat,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<serde_json::Value, PostgresError> {
        // A scratch database of the same name is a leftover of an earlier drill of this backup.
        loader.drop_database(scratch).await?;
        loader.create_database(scratch, meta).await?;
        let result = async {
            let started = Instant::now();
            loader.load(scratch, format, false, input).await?;
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
        Ok(serde_json::json!({
            "database": meta.name,
            "scratch_database": scratch.database(),
            "tables_compared": comparison.tables_compared,
            "rows": comparison.rows,
            "row_counts_match": true,
            "large_objects": meta.large_objects,
            "schema_hash": meta.schema_hash,
            "schema_hash_match": comparison.schema_hash.as_ref().map(|h| Some(h) == meta.schema_hash.as_ref()),
            "restore_ms": restore_ms,
            "sslmode": scratch.ssl_mode(),
            "tls": comparison.tls,
        }))
    }

    async fn run(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, PostgresError> {
        if !crate::DUMP_FORMATS.contains(&manifest.dump_format.as_str()) {
            return Err(PostgresError::WrongDumpFormat {
                found: manifest.dump_format.clone(),
            });
        }
        let metadata = PostgresMetadata::from_value(&manifest.metadata).map_err(|e| {
            PostgresError::BadManifest {
                reason: e.to_string(),
            }
        })?;
        let loader = Loader::new(&self.options);
        let base = scratch_name(&manifest.id.to_string());
        let started = Instant::now();
        let mut results = Vec::new();
        if manifest.dump_format == FORMAT_BUNDLE {
            let mut reader = BundleReader::new(input);
            let mut index = 0;
            while let Some(header) = reader
                .next_part()
                .await
                .map_err(|source| PostgresError::Input { source })?
            {
                if header.kind == PartKind::Globals {
                    tokio::io::copy(&mut reader, &mut tokio::io::sink())
                        .await
                        .map_err(|source| PostgresError::Input { source })?;
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
                let format = DumpFormat::parse(&header.format).unwrap_or_default();
                results.push(
                    self.drill_one(&loader, meta, &scratch, format, &mut reader)
                        .await?,
                );
            }
        } else {
            let meta = metadata
                .databases
                .first()
                .ok_or_else(|| PostgresError::BadManifest {
                    reason: "no database listed".into(),
                })?;
            let format = if manifest.dump_format == FORMAT_PLAIN {
                DumpFormat::Plain
            } else {
                DumpFormat::Custom
            };
            let scratch = self.conn.with_database(&base);
            results.push(
                self.drill_one(&loader, meta, &scratch, format, input)
                    .await?,
            );
        }
        let restore_ms: u64 = results
            .iter()
            .filter_map(|r| r["restore_ms"].as_u64())
            .sum();
        let rows: u64 = results.iter().filter_map(|r| r["rows"].as_u64()).sum();
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

/// `lifeboat_verify_<id>`: lower-case, `[a-z0-9_]` only, at most 55 bytes (room for `_<n>`
/// within PostgreSQL's 63).
pub(crate) fn scratch_name(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("lifeboat_verify_{clean}");
    name.truncate(55);
    name
}

#[async_trait]
impl FormatCheck for PostgresDrill {
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
    fn scratch_names_are_safe() {
        assert_eq!(
            scratch_name("20261121T020000Z-3f9A1c"),
            "lifeboat_verify_20261121t020000z_3f9a1c"
        );
        assert!(scratch_name(&"x".repeat(100)).len() <= 55);
        assert_eq!(scratch_name("a\"; DROP"), "lifeboat_verify_a___drop");
    }
}
