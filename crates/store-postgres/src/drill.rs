//! [`PostgresDrill`]: `lifeboat verify --deep` — restore into a scratch database on the
//! source's server, compare with the manifest, drop the scratch database.

use std::time::Instant;

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use serde::Serialize;
use tokio::io::AsyncRead;

use crate::bundle::{BundleReader, PartKind};
use crate::conn::ConnInfo;
use crate::error::PostgresError;
use crate::format::ArtifactFormat;
use crate::metadata::{DatabaseMetadata, PostgresMetadata};
use crate::options::{DumpFormat, PostgresOptions};
use crate::restore::Loader;
use crate::FORMAT_BUNDLE;

/// `verify --deep`: a restore drill. Each database of the backup is restored into
/// `lifeboat_verify_<backup id>_<random>` (lower-cased, `[a-z0-9_]`, with `_<n>` per database
/// of a bundle; the random part lets two drills of the same backup run at once) on the
/// source's server; every table's exact row count, the large objects and the
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
        let base = scratch_name(&manifest.id.to_string(), &random_suffix());
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

/// Length of the random part of a scratch name.
const SUFFIX_LEN: usize = 8;

/// The longest scratch name before a bundle's `_<n>`: room for `_<n>` up to `_99999999`
/// within PostgreSQL's 63-byte identifiers.
const MAX_BASE: usize = 54;

/// `SUFFIX_LEN` random characters of `[a-z0-9]` (36^8 ≈ 2.8e12 names).
fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..SUFFIX_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// `lifeboat_verify_<id>_<suffix>`: lower-case, `[a-z0-9_]` only, at most [`MAX_BASE`]
/// bytes; the id is shortened, never the suffix.
pub(crate) fn scratch_name(id: &str, suffix: &str) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_alphanumeric() {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let suffix = clean(suffix);
    let prefix = "lifeboat_verify_";
    let mut id = clean(id);
    id.truncate(MAX_BASE.saturating_sub(prefix.len() + 1 + suffix.len()));
    let mut name = format!("{prefix}{id}_{suffix}");
    name.truncate(MAX_BASE);
    name
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

    use proptest::prelude::*;

    #[test]
    fn scratch_names_are_safe() {
        assert_eq!(
            scratch_name("20261121T020000Z-3f9A1c", "k3x9a0qz"),
            "lifeboat_verify_20261121t020000z_3f9a1c_k3x9a0qz"
        );
        assert_eq!(
            scratch_name("a\"; DROP", "abcdefgh"),
            "lifeboat_verify_a___drop_abcdefgh"
        );
        let long = scratch_name(&"x".repeat(100), "abcdefgh");
        assert_eq!(long.len(), MAX_BASE);
        assert!(long.ends_with("x_abcdefgh"), "{long}");
    }

    #[test]
    fn two_drills_of_one_backup_get_different_names() {
        let id = "20261121T020000Z-3f9A1c";
        let a = scratch_name(id, &random_suffix());
        let b = scratch_name(id, &random_suffix());
        assert_ne!(a, b);
        assert_eq!(
            a.len(),
            "lifeboat_verify_20261121t020000z_3f9a1c_".len() + SUFFIX_LEN
        );
    }

    proptest! {
        #[test]
        fn any_id_gives_a_valid_name(id in ".{0,120}") {
            let name = scratch_name(&id, &random_suffix());
            // With a bundle's `_<n>` it still fits PostgreSQL's 63 bytes.
            let with_part = format!("{name}_99999999");
            prop_assert!(with_part.len() <= 63);
            prop_assert!(name.starts_with("lifeboat_verify_"));
            prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            prop_assert_eq!(name.rsplit('_').next().map(str::len), Some(SUFFIX_LEN));
        }
    }
}
