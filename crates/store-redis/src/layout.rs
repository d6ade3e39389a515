//! How a key-by-key backup lays out its records: the `redis-logical` format, or — for an `rdb`
//! backup that fell back to `SCAN` + `DUMP` because the server refused `SYNC` — a valid RDB
//! file assembled from the `DUMP` payloads (a payload is the RDB type byte and the value's RDB
//! encoding, plus the RDB version and a CRC64), so the backup keeps its `rdb` dump format and
//! loads in `redis-server` like any snapshot.

use crc::Digest;

use crate::input::CRC64;
use crate::logical;
use crate::rdb::encode;

/// The record layout of a key-by-key backup.
pub(crate) enum Layout {
    /// `redis-logical` records.
    Logical,
    /// An RDB file: header before the first key, `SELECTDB` per db, CRC64 at the end.
    Rdb {
        crc: Digest<'static, u64>,
        version: Option<u16>,
        db: Option<u32>,
    },
}

impl Layout {
    /// The layout for `as_rdb`.
    pub fn new(as_rdb: bool) -> Self {
        if as_rdb {
            Layout::Rdb {
                crc: CRC64.digest(),
                version: None,
                db: None,
            }
        } else {
            Layout::Logical
        }
    }

    /// What goes before the first record.
    pub fn header(&self, out: &mut Vec<u8>) {
        if let Layout::Logical = self {
            out.extend_from_slice(logical::HEADER);
        }
    }

    /// Appends one key (`payload` is a `DUMP` payload with a valid footer).
    pub fn record(
        &mut self,
        db: u32,
        key: &[u8],
        expire_ms: Option<i64>,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        match self {
            Layout::Logical => logical::encode_record(db, key, expire_ms, payload, out),
            Layout::Rdb {
                version,
                db: current,
                ..
            } => {
                let n = payload.len();
                if version.is_none() {
                    let v = u16::from_le_bytes([payload[n - 10], payload[n - 9]]);
                    *version = Some(v);
                    out.extend_from_slice(format!("REDIS{v:04}").as_bytes());
                }
                if *current != Some(db) {
                    out.push(0xFE);
                    encode::len(u64::from(db), out);
                    *current = Some(db);
                }
                if let Some(ms) = expire_ms {
                    out.push(0xFC);
                    out.extend_from_slice(&ms.to_le_bytes());
                }
                out.push(payload[0]);
                encode::string(key, out);
                out.extend_from_slice(&payload[1..n - 10]);
            }
        }
    }

    /// Feeds bytes about to be written (the RDB layout's CRC covers the whole file).
    pub fn written(&mut self, bytes: &[u8]) {
        if let Layout::Rdb { crc, .. } = self {
            crc.update(bytes);
        }
    }

    /// The end of the dump (`default_version`: the RDB version when no key was written).
    pub fn trailer(self, count: u64, default_version: u16) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Layout::Logical => logical::encode_trailer(count, &mut out),
            Layout::Rdb {
                mut crc, version, ..
            } => {
                if version.is_none() {
                    out.extend_from_slice(format!("REDIS{default_version:04}").as_bytes());
                }
                out.push(0xFF);
                crc.update(&out);
                let sum = crc.finalize();
                out.extend_from_slice(&sum.to_le_bytes());
            }
        }
        out
    }
}
