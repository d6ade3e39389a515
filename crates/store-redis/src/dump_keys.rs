//! [`DumpKeys`]: the keys of a dump of either format, one at a time, as a restore sends
//! them: db, key, expiry and a `DUMP` payload (an RDB dump is parsed into per-key payloads).

use tokio::io::AsyncRead;

use crate::format::DumpFormat;
use crate::logical::{check_payload, LogicalReader};
use crate::rdb::{Item, RdbParser};
use crate::{RedisError, FORMAT_LOGICAL};

/// The keys of a dump, from either format.
pub(crate) enum DumpKeys<'a> {
    /// An RDB file, parsed with payload capture.
    Rdb(RdbParser<&'a mut (dyn AsyncRead + Send + Unpin)>),
    /// A `redis-logical` stream.
    Logical(LogicalReader<&'a mut (dyn AsyncRead + Send + Unpin)>),
}

/// One key to restore.
pub(crate) struct Key {
    /// The db index.
    pub db: u32,
    /// The key.
    pub key: Vec<u8>,
    /// The absolute expiry in Unix milliseconds.
    pub expire_ms: Option<i64>,
    /// The `DUMP` payload (never empty: its first byte is the RDB type).
    pub payload: Vec<u8>,
}

/// What [`DumpKeys::next`] found.
pub(crate) enum Next {
    /// A key.
    Key(Key),
    /// A function library's code (`FUNCTION LOAD`).
    Function(Vec<u8>),
    /// The end of the dump, its trailer checked.
    End,
}

impl<'a> DumpKeys<'a> {
    /// Opens `input`, a dump of `format` (reads its header).
    pub async fn open(
        input: &'a mut (dyn AsyncRead + Send + Unpin),
        format: DumpFormat,
    ) -> Result<Self, RedisError> {
        Ok(match format {
            DumpFormat::Rdb => DumpKeys::Rdb(RdbParser::open(input, true).await?),
            DumpFormat::Logical => DumpKeys::Logical(LogicalReader::open(input).await?),
        })
    }

    /// The next key, function library, or the end (after checking the dump's trailer).
    pub async fn next(&mut self) -> Result<Next, RedisError> {
        match self {
            DumpKeys::Rdb(p) => match p.next().await? {
                Some(Item::Entry(e)) => Ok(Next::Key(Key {
                    db: e.db,
                    key: e.key,
                    expire_ms: e.expire_ms,
                    payload: e.payload.unwrap_or_default(),
                })),
                Some(Item::Function(code)) => Ok(Next::Function(code.unwrap_or_default())),
                None => {
                    p.expect_end().await?;
                    Ok(Next::End)
                }
            },
            DumpKeys::Logical(r) => match r.next().await? {
                Some(rec) => {
                    check_payload(&rec.payload).map_err(|message| RedisError::Format {
                        format: FORMAT_LOGICAL,
                        offset: 0,
                        message,
                    })?;
                    Ok(Next::Key(Key {
                        db: rec.db,
                        key: rec.key,
                        expire_ms: rec.expire_ms,
                        payload: rec.payload,
                    }))
                }
                None => Ok(Next::End),
            },
        }
    }

    /// The dump's RDB version (logical: the first payload's).
    pub fn rdb_version(&self, first_payload: Option<&[u8]>) -> u32 {
        match self {
            DumpKeys::Rdb(p) => p.version,
            DumpKeys::Logical(_) => first_payload
                .and_then(|p| check_payload(p).ok())
                .map(u32::from)
                .unwrap_or(0),
        }
    }
}
