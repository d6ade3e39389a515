//! The `redis-logical` dump format (extension `rlog`), written by logical backups.
//!
//! ```text
//! header   "lifeboat-redis-logical 1\n"                      (25 bytes)
//! record   'K' (0x4B)
//!          db          u32 big-endian
//!          key length  u32 big-endian, then the key bytes (binary-safe)
//!          expiry      i64 big-endian: absolute Unix time in milliseconds, -1 = no TTL
//!          payload len u32 big-endian, then the `DUMP` payload (RDB type byte, value,
//!                      RDB version u16 LE, CRC64 LE)
//! trailer  'E' (0x45)
//!          count       u64 big-endian: the number of records before it
//! ```
//!
//! Nothing may follow the trailer. A stream without the trailer, or whose count differs, is
//! truncated; every payload carries its own CRC64, which the check verifies.

use tokio::io::AsyncRead;

use crate::input::{Input, CRC64};
use crate::RedisError;

/// The header line.
pub(crate) const HEADER: &[u8] = b"lifeboat-redis-logical 1\n";
const TAG_KEY: u8 = b'K';
const TAG_END: u8 = b'E';
const FORMAT: &str = "redis-logical";
const MAX_KEY: u64 = 512 << 20;
const MAX_PAYLOAD: u64 = 4 << 30;

/// One record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The db index.
    pub db: u32,
    /// The key.
    pub key: Vec<u8>,
    /// Absolute expiry (Unix ms), `None` without TTL.
    pub expire_ms: Option<i64>,
    /// The `DUMP` payload.
    pub payload: Vec<u8>,
}

/// Appends one record to `out`.
pub(crate) fn encode_record(
    db: u32,
    key: &[u8],
    expire_ms: Option<i64>,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    out.push(TAG_KEY);
    out.extend_from_slice(&db.to_be_bytes());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&expire_ms.unwrap_or(-1).to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Appends the trailer to `out`.
pub(crate) fn encode_trailer(count: u64, out: &mut Vec<u8>) {
    out.push(TAG_END);
    out.extend_from_slice(&count.to_be_bytes());
}

/// Checks a `DUMP` payload's footer; returns its RDB version.
pub(crate) fn check_payload(payload: &[u8]) -> Result<u16, String> {
    if payload.len() < 11 {
        return Err(format!(
            "a DUMP payload of {} bytes is too short",
            payload.len()
        ));
    }
    let (body, crc) = payload.split_at(payload.len() - 8);
    let mut stored = [0u8; 8];
    stored.copy_from_slice(crc);
    let stored = u64::from_le_bytes(stored);
    // Redis always checks a DUMP payload's CRC64 (no "0 = unchecked" as in RDB files), so a
    // zeroed footer is corruption here too.
    if CRC64.checksum(body) != stored {
        return Err("a DUMP payload's CRC64 does not match".to_string());
    }
    Ok(u16::from_le_bytes([
        body[body.len() - 2],
        body[body.len() - 1],
    ]))
}

/// Reads records from a `redis-logical` stream.
pub(crate) struct LogicalReader<R> {
    input: Input<R>,
    count: u64,
    done: bool,
}

impl<R: AsyncRead + Unpin> LogicalReader<R> {
    /// Reads and checks the header.
    pub async fn open(reader: R) -> Result<Self, RedisError> {
        let mut input = Input::new(reader);
        input.take_crc();
        let header = input
            .bytes(HEADER.len() as u64, HEADER.len() as u64)
            .await
            .map_err(RedisError::Input)?;
        if header != HEADER {
            return Err(format_err(0, "no `lifeboat-redis-logical 1` header"));
        }
        Ok(Self {
            input,
            count: 0,
            done: false,
        })
    }

    /// The next record; `None` after a trailer whose count matches and the end of the stream.
    pub async fn next(&mut self) -> Result<Option<Record>, RedisError> {
        if self.done {
            return Ok(None);
        }
        let at = self.input.offset();
        let tag = self.input.u8().await.map_err(truncated)?;
        match tag {
            TAG_KEY => {
                let db = u32::from_be_bytes(self.input.array().await.map_err(truncated)?);
                let klen = u32::from_be_bytes(self.input.array().await.map_err(truncated)?);
                let key = self
                    .input
                    .bytes(u64::from(klen), MAX_KEY)
                    .await
                    .map_err(truncated)?;
                let expire = i64::from_be_bytes(self.input.array().await.map_err(truncated)?);
                let plen = u32::from_be_bytes(self.input.array().await.map_err(truncated)?);
                let payload = self
                    .input
                    .bytes(u64::from(plen), MAX_PAYLOAD)
                    .await
                    .map_err(truncated)?;
                if expire < -1 {
                    return Err(format_err(at, "negative expiry"));
                }
                self.count += 1;
                Ok(Some(Record {
                    db,
                    key,
                    expire_ms: (expire >= 0).then_some(expire),
                    payload,
                }))
            }
            TAG_END => {
                let count = u64::from_be_bytes(self.input.array().await.map_err(truncated)?);
                if count != self.count {
                    return Err(format_err(
                        at,
                        &format!(
                            "the trailer counts {count} records, the stream holds {}",
                            self.count
                        ),
                    ));
                }
                if !self.input.at_eof().await.map_err(RedisError::Input)? {
                    return Err(format_err(self.input.offset(), "data after the trailer"));
                }
                self.done = true;
                Ok(None)
            }
            other => Err(format_err(at, &format!("unknown record tag {other:#04x}"))),
        }
    }
}

fn truncated(e: std::io::Error) -> RedisError {
    if e.kind() == std::io::ErrorKind::InvalidData {
        format_err(0, &e.to_string())
    } else {
        RedisError::Input(e)
    }
}

fn format_err(offset: u64, message: &str) -> RedisError {
    RedisError::Format {
        format: FORMAT,
        offset,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    async fn read_all(data: &[u8]) -> Result<Vec<Record>, RedisError> {
        let mut r = LogicalReader::open(data).await?;
        let mut out = Vec::new();
        while let Some(rec) = r.next().await? {
            out.push(rec);
        }
        Ok(out)
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        (
            0u32..16,
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::option::of(0i64..i64::MAX),
            proptest::collection::vec(any::<u8>(), 0..128),
        )
            .prop_map(|(db, key, expire_ms, payload)| Record {
                db,
                key,
                expire_ms,
                payload,
            })
    }

    proptest! {
        #[test]
        fn records_round_trip(records in proptest::collection::vec(arb_record(), 0..20)) {
            let mut data = HEADER.to_vec();
            for r in &records {
                encode_record(r.db, &r.key, r.expire_ms, &r.payload, &mut data);
            }
            encode_trailer(records.len() as u64, &mut data);
            let back = block_on(read_all(&data)).unwrap();
            prop_assert_eq!(&back, &records);
            // Every truncation is detected.
            for cut in 0..data.len() {
                prop_assert!(block_on(read_all(&data[..cut])).is_err());
            }
            // So is a wrong count.
            let n = data.len();
            data[n - 1] ^= 1;
            prop_assert!(block_on(read_all(&data)).is_err());
        }
    }

    #[test]
    fn payload_footer() {
        let mut p = vec![0u8, 1, b'x'];
        p.extend_from_slice(&10u16.to_le_bytes());
        let crc = CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(check_payload(&p), Ok(10));
        p[2] = b'y';
        assert!(check_payload(&p).is_err());
        // A zeroed CRC is not "unchecked": Redis's RESTORE would refuse it too.
        p[2] = b'x';
        let n = p.len();
        p[n - 8..].fill(0);
        assert!(check_payload(&p).is_err());
    }
}
