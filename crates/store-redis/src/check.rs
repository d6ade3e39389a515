//! [`RedisCheck`]: the format check `lifeboat verify` runs on a raw dump, without any server.

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use lifeboat_edge::shown::excerpt;
use serde_json::json;
use tokio::io::AsyncRead;

use crate::digest::{type_name, KeyDigest};
use crate::format::DumpFormat;
use crate::logical::{check_payload, LogicalReader};
use crate::rdb::{Item, RdbParser};
use crate::target::metadata_of;
use crate::{RedisError, FORMAT_LOGICAL};

/// Facts about a parsed dump besides its keys.
#[derive(Debug, Default)]
pub(crate) struct DumpFacts {
    /// The RDB version (rdb: the header; logical: the first payload's).
    pub rdb_version: u32,
    /// Whether a CRC64 over the whole file was present and matched (rdb).
    pub checksum_verified: bool,
    /// Function libraries (rdb).
    pub functions: u64,
}

/// Parses a whole RDB stream: header, every opcode and value, the CRC64, nothing after it.
pub(crate) async fn digest_rdb<R: AsyncRead + Unpin>(
    reader: R,
) -> Result<(KeyDigest, DumpFacts), RedisError> {
    let mut parser = RdbParser::open(reader, false).await?;
    let mut digest = KeyDigest::default();
    let mut facts = DumpFacts::default();
    while let Some(item) = parser.next().await? {
        match item {
            Item::Entry(e) => {
                digest.add(e.db, &e.key, type_name(e.rdb_type), e.expire_ms.is_some())
            }
            Item::Function(_) => facts.functions += 1,
        }
    }
    parser.expect_end().await?;
    facts.rdb_version = parser.version;
    facts.checksum_verified = parser.checksum_verified;
    Ok((digest, facts))
}

/// Reads a whole logical stream: header, records (each payload's CRC64), trailer.
pub(crate) async fn digest_logical<R: AsyncRead + Unpin>(
    reader: R,
) -> Result<(KeyDigest, DumpFacts), RedisError> {
    let mut r = LogicalReader::open(reader).await?;
    let mut digest = KeyDigest::default();
    let mut facts = DumpFacts::default();
    while let Some(rec) = r.next().await? {
        let version = check_payload(&rec.payload).map_err(|message| RedisError::Format {
            format: FORMAT_LOGICAL,
            offset: 0,
            message: format!("key {}: {message}", excerpt(&rec.key)),
        })?;
        facts.rdb_version = facts.rdb_version.max(u32::from(version));
        digest.add(
            rec.db,
            &rec.key,
            type_name(rec.payload[0]),
            rec.expire_ms.is_some(),
        );
    }
    Ok((digest, facts))
}

/// The format check for `rdb` and `redis-logical` dumps: parses the whole stream (RDB: magic,
/// every opcode and value encoding, the trailing CRC64; logical: every record, each payload's
/// CRC64, the trailer's count) and compares the key count per db and the key digest with the
/// manifest metadata.
#[derive(Debug, Default)]
pub struct RedisCheck;

impl RedisCheck {
    /// The check.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl FormatCheck for RedisCheck {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    async fn check(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        m: &Manifest,
    ) -> Result<Report, StoreError> {
        let metadata = metadata_of(m)?;
        let (digest, facts) = match DumpFormat::of(m)? {
            DumpFormat::Rdb => digest_rdb(input).await?,
            DumpFormat::Logical => digest_logical(input).await?,
        };
        digest
            .compare(&metadata, "the dump")
            .map_err(RedisError::Mismatch)?;
        Ok(Report {
            summary: format!(
                "{} dump (RDB version {}) is valid: {} keys in {} dbs{}",
                m.dump_format,
                facts.rdb_version,
                digest.keys(),
                digest.per_db.len(),
                if facts.checksum_verified {
                    ", CRC64 ok"
                } else {
                    ""
                }
            ),
            details: json!({
                "dump_format": m.dump_format,
                "rdb_version": facts.rdb_version,
                "checksum_verified": facts.checksum_verified,
                "keys": digest.keys(),
                "keys_per_db": digest.per_db_json(),
                "expires": digest.expires,
                "digest": digest.hex(),
                "functions": facts.functions,
            }),
        })
    }
}
