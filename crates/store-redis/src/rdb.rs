//! A streaming RDB parser: header, opcodes, every value type's encoding (enough to find where
//! each value ends), and the trailing CRC64.
//!
//! With `capture` on, each key's value is returned as a `DUMP` payload: the RDB type byte and
//! the value's bytes exactly as in the file, then the RDB version (`u16` LE) and the CRC64
//! (LE) of everything before it — the form `RESTORE` accepts. Memory stays bounded by the
//! largest single value (the payload is handed to `RESTORE` in one piece).

use std::collections::BTreeMap;
use std::io;

use tokio::io::AsyncRead;

use crate::input::{Input, CRC64};
use crate::{lzf, RedisError};

/// Opcodes of the RDB format.
mod op {
    pub const SLOT_INFO: u8 = 0xF4;
    pub const FUNCTION2: u8 = 0xF5;
    pub const FUNCTION_PRE_GA: u8 = 0xF6;
    pub const MODULE_AUX: u8 = 0xF7;
    pub const IDLE: u8 = 0xF8;
    pub const FREQ: u8 = 0xF9;
    pub const AUX: u8 = 0xFA;
    pub const RESIZEDB: u8 = 0xFB;
    pub const EXPIRETIME_MS: u8 = 0xFC;
    pub const EXPIRETIME: u8 = 0xFD;
    pub const SELECTDB: u8 = 0xFE;
    pub const EOF: u8 = 0xFF;
}

const FORMAT: &str = "rdb";
/// The largest string this parser accepts (Redis's `proto-max-bulk-len` can be raised to 4 GiB).
const MAX_STRING: u64 = 4 << 30;

/// One key of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The db index.
    pub db: u32,
    /// The key.
    pub key: Vec<u8>,
    /// The absolute expiry in Unix milliseconds.
    pub expire_ms: Option<i64>,
    /// The RDB value type byte.
    pub rdb_type: u8,
    /// The `DUMP` payload (only with capture).
    pub payload: Option<Vec<u8>>,
}

/// What [`RdbParser::next`] found.
#[derive(Debug)]
pub(crate) enum Item {
    /// A key.
    Entry(Entry),
    /// A function library (`FUNCTION2`): its code (only with capture).
    Function(Option<Vec<u8>>),
}

/// A pull parser over an RDB stream.
pub(crate) struct RdbParser<R> {
    input: Input<R>,
    /// The RDB version from the header.
    pub version: u32,
    /// AUX fields (`redis-ver`, `ctime`, ...).
    pub aux: BTreeMap<String, String>,
    /// Whether the trailing checksum was present (not zero) and matched.
    pub checksum_verified: bool,
    db: u32,
    capture: bool,
    done: bool,
}

impl<R: AsyncRead + Unpin> RdbParser<R> {
    /// Reads the header (`REDIS` and a 4-digit version).
    pub async fn open(reader: R, capture: bool) -> Result<Self, RedisError> {
        let mut input = Input::new(reader);
        let magic: [u8; 9] = input.array().await.map_err(RedisError::Input)?;
        if &magic[..5] != b"REDIS" {
            return Err(format_err(0, "no REDIS magic: this is not an RDB stream"));
        }
        let version = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|v| *v >= 1)
            .ok_or_else(|| format_err(5, "bad RDB version digits"))?;
        Ok(Self {
            input,
            version,
            aux: BTreeMap::new(),
            checksum_verified: false,
            db: 0,
            capture,
            done: false,
        })
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// The next key or function; `None` after the `EOF` opcode and a matching checksum.
    pub async fn next(&mut self) -> Result<Option<Item>, RedisError> {
        if self.done {
            return Ok(None);
        }
        let mut expire_ms = None;
        loop {
            let at = self.offset();
            let t = self.u8().await?;
            match t {
                op::EOF => {
                    self.finish().await?;
                    return Ok(None);
                }
                op::SELECTDB => {
                    let db = self.len().await?;
                    self.db =
                        u32::try_from(db).map_err(|_| format_err(at, "db index too large"))?;
                }
                op::EXPIRETIME => {
                    let s: [u8; 4] = self.array().await?;
                    expire_ms = Some(i64::from(u32::from_le_bytes(s)) * 1000);
                }
                op::EXPIRETIME_MS => {
                    let ms: [u8; 8] = self.array().await?;
                    expire_ms = Some(i64::from_le_bytes(ms));
                }
                op::RESIZEDB => {
                    self.len().await?;
                    self.len().await?;
                }
                op::AUX => {
                    let k = self.string(1 << 20).await?;
                    let v = self.string(MAX_STRING).await?;
                    if self.aux.len() < 64 {
                        self.aux.insert(
                            String::from_utf8_lossy(&k).into_owned(),
                            String::from_utf8_lossy(&v[..v.len().min(256)]).into_owned(),
                        );
                    }
                }
                op::FREQ => {
                    self.u8().await?;
                }
                op::IDLE => {
                    self.len().await?;
                }
                op::SLOT_INFO => {
                    self.len().await?;
                    self.len().await?;
                    self.len().await?;
                }
                op::FUNCTION2 => {
                    let code = if self.capture {
                        Some(self.string(MAX_STRING).await?)
                    } else {
                        self.skip_string().await?;
                        None
                    };
                    return Ok(Some(Item::Function(code)));
                }
                op::MODULE_AUX => {
                    return Err(unsupported(
                        at,
                        "module auxiliary data (modules are not supported)",
                    ))
                }
                op::FUNCTION_PRE_GA => {
                    return Err(unsupported(
                        at,
                        "pre-release function format (Redis 7.0 RC)",
                    ))
                }
                rdb_type => {
                    let key = self.string(MAX_STRING).await?;
                    if self.capture {
                        self.input.start_capture(&[rdb_type]);
                    }
                    self.skip_value(rdb_type, &key, at).await?;
                    let payload = self.capture.then(|| {
                        let mut p = self.input.end_capture();
                        p.extend_from_slice(&(self.version as u16).to_le_bytes());
                        let crc = CRC64.checksum(&p);
                        p.extend_from_slice(&crc.to_le_bytes());
                        p
                    });
                    return Ok(Some(Item::Entry(Entry {
                        db: self.db,
                        key,
                        expire_ms,
                        rdb_type,
                        payload,
                    })));
                }
            }
        }
    }

    async fn finish(&mut self) -> Result<(), RedisError> {
        let computed = self.input.take_crc();
        if self.version >= 5 {
            let at = self.offset();
            let stored = u64::from_le_bytes(self.array().await?);
            if stored != 0 {
                if stored != computed {
                    return Err(format_err(
                        at,
                        &format!(
                            "CRC64 mismatch: the stream says {stored:016x}, its content hashes \
                             to {computed:016x}"
                        ),
                    ));
                }
                self.checksum_verified = true;
            }
        }
        self.done = true;
        Ok(())
    }

    /// After `next` returned `None`: checks that nothing follows the checksum.
    pub async fn expect_end(&mut self) -> Result<(), RedisError> {
        if !self.input.at_eof().await.map_err(RedisError::Input)? {
            return Err(format_err(self.offset(), "data after the RDB checksum"));
        }
        Ok(())
    }

    async fn u8(&mut self) -> Result<u8, RedisError> {
        self.input.u8().await.map_err(io_err)
    }

    async fn array<const N: usize>(&mut self) -> Result<[u8; N], RedisError> {
        self.input.array().await.map_err(io_err)
    }

    async fn skip(&mut self, n: u64) -> Result<(), RedisError> {
        self.input.take(n, None).await.map_err(io_err)
    }

    /// A length, or the special-encoding marker `(kind, true)`.
    async fn len_enc(&mut self) -> Result<(u64, bool), RedisError> {
        let at = self.offset();
        let b = self.u8().await?;
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3f), false),
            1 => (
                u64::from(b & 0x3f) << 8 | u64::from(self.u8().await?),
                false,
            ),
            2 => match b {
                0x80 => (u64::from(u32::from_be_bytes(self.array().await?)), false),
                0x81 => (u64::from_be_bytes(self.array().await?), false),
                _ => return Err(format_err(at, &format!("bad length byte {b:#04x}"))),
            },
            _ => (u64::from(b & 0x3f), true),
        })
    }

    async fn len(&mut self) -> Result<u64, RedisError> {
        let at = self.offset();
        match self.len_enc().await? {
            (n, false) => Ok(n),
            (_, true) => Err(format_err(at, "an encoded string where a length belongs")),
        }
    }

    /// A string, decoded (integer encodings as decimal text, LZF decompressed).
    async fn string(&mut self, limit: u64) -> Result<Vec<u8>, RedisError> {
        let at = self.offset();
        let (n, encoded) = self.len_enc().await?;
        if !encoded {
            if n > limit {
                return Err(format_err(at, &format!("implausible string length {n}")));
            }
            return self.input.bytes(n, limit).await.map_err(io_err);
        }
        match n {
            0 => Ok((self.u8().await? as i8).to_string().into_bytes()),
            1 => Ok(i16::from_le_bytes(self.array().await?)
                .to_string()
                .into_bytes()),
            2 => Ok(i32::from_le_bytes(self.array().await?)
                .to_string()
                .into_bytes()),
            3 => {
                let clen = self.len().await?;
                let ulen = self.len().await?;
                if clen > limit || ulen > limit {
                    return Err(format_err(at, "implausible compressed string length"));
                }
                let data = self.input.bytes(clen, limit).await.map_err(io_err)?;
                lzf::decompress(&data, ulen as usize)
                    .ok_or_else(|| format_err(at, "bad LZF-compressed string"))
            }
            other => Err(format_err(at, &format!("unknown string encoding {other}"))),
        }
    }

    /// Skips a string without decoding it.
    async fn skip_string(&mut self) -> Result<(), RedisError> {
        let at = self.offset();
        let (n, encoded) = self.len_enc().await?;
        if !encoded {
            return self.skip(n).await;
        }
        match n {
            0 => self.skip(1).await,
            1 => self.skip(2).await,
            2 => self.skip(4).await,
            3 => {
                let clen = self.len().await?;
                self.len().await?;
                self.skip(clen).await
            }
            other => Err(format_err(at, &format!("unknown string encoding {other}"))),
        }
    }

    async fn skip_strings(&mut self, n: u64) -> Result<(), RedisError> {
        for _ in 0..n {
            self.skip_string().await?;
        }
        Ok(())
    }

    async fn skip_value(&mut self, t: u8, key: &[u8], at: u64) -> Result<(), RedisError> {
        match t {
            0 | 9..=13 | 16 | 17 | 20 => self.skip_string().await,
            1 | 2 => {
                let n = self.len().await?;
                self.skip_strings(n).await
            }
            3 => {
                let n = self.len().await?;
                for _ in 0..n {
                    self.skip_string().await?;
                    let l = self.u8().await?;
                    if l < 253 {
                        self.skip(u64::from(l)).await?;
                    }
                }
                Ok(())
            }
            4 => {
                let n = self.len().await?;
                self.skip_strings(n.saturating_mul(2)).await
            }
            5 => {
                let n = self.len().await?;
                for _ in 0..n {
                    self.skip_string().await?;
                    self.skip(8).await?;
                }
                Ok(())
            }
            14 => {
                let n = self.len().await?;
                self.skip_strings(n).await
            }
            18 => {
                let n = self.len().await?;
                for _ in 0..n {
                    self.len().await?;
                    self.skip_string().await?;
                }
                Ok(())
            }
            15 | 19 | 21 => self.skip_stream(t).await,
            24 => {
                self.skip(8).await?;
                let n = self.len().await?;
                for _ in 0..n {
                    self.len().await?;
                    self.skip_string().await?;
                    self.skip_string().await?;
                }
                Ok(())
            }
            25 => {
                self.skip(8).await?;
                self.skip_string().await
            }
            6 | 7 => Err(unsupported(
                at,
                &format!(
                    "key {} holds a module value (modules are not supported)",
                    lifeboat_edge::shown::excerpt(key)
                ),
            )),
            22 | 23 => Err(unsupported(
                at,
                "pre-release hash-field-expiry encoding (Redis 7.4 RC)",
            )),
            other => Err(format_err(at, &format!("unknown value type {other}"))),
        }
    }

    async fn skip_stream(&mut self, t: u8) -> Result<(), RedisError> {
        let nodes = self.len().await?;
        self.skip_strings(nodes.saturating_mul(2)).await?;
        // length, last id (ms, seq)
        for _ in 0..3 {
            self.len().await?;
        }
        if t >= 19 {
            // first id, max deleted id, entries added
            for _ in 0..5 {
                self.len().await?;
            }
        }
        let groups = self.len().await?;
        for _ in 0..groups {
            self.skip_string().await?;
            self.len().await?;
            self.len().await?;
            if t >= 19 {
                self.len().await?;
            }
            let pel = self.len().await?;
            for _ in 0..pel {
                self.skip(16 + 8).await?;
                self.len().await?;
            }
            let consumers = self.len().await?;
            for _ in 0..consumers {
                self.skip_string().await?;
                self.skip(if t >= 21 { 16 } else { 8 }).await?;
                let pel = self.len().await?;
                self.skip(pel.saturating_mul(16)).await?;
            }
        }
        Ok(())
    }
}

fn format_err(offset: u64, message: &str) -> RedisError {
    RedisError::Format {
        format: FORMAT,
        offset,
        message: message.to_string(),
    }
}

fn unsupported(offset: u64, message: &str) -> RedisError {
    RedisError::Unsupported {
        format: FORMAT,
        offset,
        message: message.to_string(),
    }
}

fn io_err(e: io::Error) -> RedisError {
    if e.kind() == io::ErrorKind::InvalidData {
        RedisError::Format {
            format: FORMAT,
            offset: 0,
            message: e.to_string(),
        }
    } else {
        RedisError::Input(e)
    }
}

/// Encoders for the RDB length and string encodings.
pub(crate) mod encode {
    /// The RDB length encoding of `n`.
    pub fn len(n: u64, out: &mut Vec<u8>) {
        if n < 64 {
            out.push(n as u8);
        } else if n < 16384 {
            out.push(0x40 | (n >> 8) as u8);
            out.push(n as u8);
        } else if n <= u64::from(u32::MAX) {
            out.push(0x80);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0x81);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// A raw RDB string.
    pub fn string(s: &[u8], out: &mut Vec<u8>) {
        len(s.len() as u64, out);
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rdb(body: &[u8]) -> Vec<u8> {
        let mut v = b"REDIS0010".to_vec();
        v.extend_from_slice(body);
        v.push(op::EOF);
        let crc = CRC64.checksum(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        v
    }

    async fn parse_all(data: &[u8], capture: bool) -> Result<Vec<Entry>, RedisError> {
        let mut p = RdbParser::open(data, capture).await?;
        let mut out = Vec::new();
        while let Some(item) = p.next().await? {
            if let Item::Entry(e) = item {
                out.push(e);
            }
        }
        p.expect_end().await?;
        Ok(out)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn crc64_check_value() {
        // The check value of Redis's crc64 ("123456789").
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn int_and_lzf_keys_and_expiry() {
        let mut body = vec![op::SELECTDB, 2, op::EXPIRETIME_MS];
        body.extend_from_slice(&1234i64.to_le_bytes());
        body.extend_from_slice(&[0, 0xC0, 0xF6]); // string, key int8 -10
        encode::string(b"v", &mut body);
        body.extend_from_slice(&[0, 0xC3, 6, 9, 2, b'a', b'b', b'c', (4 << 5), 2]);
        encode::string(b"w", &mut body);
        let entries = block_on(parse_all(&rdb(&body), true)).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].key, b"-10");
        assert_eq!(entries[0].db, 2);
        assert_eq!(entries[0].expire_ms, Some(1234));
        assert_eq!(entries[1].key, b"abcabcabc");
        assert_eq!(entries[1].expire_ms, None);
        let p = entries[0].payload.as_ref().unwrap();
        assert_eq!(&p[..3], &[0, 1, b'v']);
        assert_eq!(&p[3..5], &10u16.to_le_bytes());
    }

    #[test]
    fn bad_crc_and_truncation_fail() {
        let mut body = vec![0];
        encode::string(b"k", &mut body);
        encode::string(b"v", &mut body);
        let mut data = rdb(&body);
        assert!(block_on(parse_all(&data, false)).is_ok());
        let n = data.len();
        data[n - 1] ^= 1;
        assert!(matches!(
            block_on(parse_all(&data, false)),
            Err(RedisError::Format { .. })
        ));
        let good = rdb(&body);
        for cut in 0..good.len() {
            assert!(
                block_on(parse_all(&good[..cut], false)).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_huge_compressed_length_fails_without_allocating() {
        // A key announced as LZF data of 1 byte expanding to 3 GiB: a format error, not a
        // 3 GiB allocation.
        let mut body = vec![0, 0xC3, 1, 0x80];
        body.extend_from_slice(&0xC000_0000u32.to_be_bytes());
        body.push(0);
        encode::string(b"v", &mut body);
        let err = block_on(parse_all(&rdb(&body), true)).unwrap_err();
        assert!(err.to_string().contains("LZF"), "{err}");
        // A string length far beyond the stream's bytes: the stream ends early, nothing big
        // is allocated up front.
        let mut body = vec![0, 0x80];
        body.extend_from_slice(&0xF000_0000u32.to_be_bytes());
        body.extend_from_slice(b"short");
        assert!(block_on(parse_all(&rdb(&body), true)).is_err());
    }

    proptest! {
        #[test]
        fn lengths_and_strings_round_trip(
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..20),
            n in any::<u64>(),
        ) {
            let mut body = Vec::new();
            for k in &keys {
                body.push(1); // list of strings
                encode::string(k, &mut body);
                encode::len(2, &mut body);
                encode::string(k, &mut body);
                encode::string(&n.to_le_bytes(), &mut body);
            }
            let entries = block_on(parse_all(&rdb(&body), true)).unwrap();
            prop_assert_eq!(entries.len(), keys.len());
            for (e, k) in entries.iter().zip(&keys) {
                prop_assert_eq!(&e.key, k);
                prop_assert_eq!(e.rdb_type, 1);
            }
        }

        #[test]
        fn length_encoding_round_trips(n in any::<u64>()) {
            let mut body = vec![op::SELECTDB];
            encode::len(n & 0xffff_ffff, &mut body);
            body.push(0);
            encode::string(b"k", &mut body);
            encode::string(b"v", &mut body);
            let entries = block_on(parse_all(&rdb(&body), false)).unwrap();
            prop_assert_eq!(u64::from(entries[0].db), n & 0xffff_ffff);
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut v = b"REDIS0010".to_vec();
            v.extend_from_slice(&data);
            let _ = block_on(parse_all(&v, true));
        }
    }
}
