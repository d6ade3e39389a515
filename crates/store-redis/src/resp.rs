//! A small RESP2 codec for the raw connections ([`crate::raw`]): commands are encoded into a
//! caller's buffer (so a whole page of `DUMP`/`PTTL` goes out in one write) and replies are
//! parsed from a byte buffer that may hold a partial reply, with a hint of how many bytes the
//! reply needs (so a large bulk string is read in few, large reads).
//!
//! Why not redis-protocol's codec (already in the build through fred): on the replies that
//! dominate a restore and a logical backup (`+OK`, `:<ttl>`, values of tens to hundreds of
//! bytes) it decodes 1.4 to 2.6 times slower than this one; see
//! `examples/resp_decode.rs`, which measures both.

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `+OK`.
    Simple(Vec<u8>),
    /// `-ERR ...`: the text after the `-`.
    Error(String),
    /// `:<n>`.
    Int(i64),
    /// `$<len>` bulk string; `None` for the null bulk `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*<n>` array; `None` for the null array `*-1`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The bytes of a bulk or simple string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) | Reply::Simple(b) => Some(b),
            _ => None,
        }
    }

    /// Appends this reply in RESP2 (for tests and fakes).
    #[cfg(test)]
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => {
                out.push(b'+');
                out.extend_from_slice(s);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Error(e) => {
                out.push(b'-');
                out.extend_from_slice(e.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(b)) => {
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(None) => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(Some(items)) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for i in items {
                    i.encode(out);
                }
            }
        }
    }
}

/// Appends one command (a RESP array of bulk strings) to `out`.
pub(crate) fn command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.push(b'*');
    push_decimal(args.len() as u64, out);
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        push_decimal(a.len() as u64, out);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A malformed reply: the connection cannot be used any further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply: {0}")]
pub struct ProtocolError(String);

/// Deepest array nesting accepted (Redis replies used here nest at most 2 levels).
const MAX_DEPTH: usize = 8;
/// Longest header line (`$<len>`, `:<n>`, `+OK`, error text) accepted.
const MAX_LINE: usize = 64 * 1024;
/// Largest bulk string accepted (Redis' `proto-max-bulk-len` maximum).
const MAX_BULK: i64 = 512 * 1024 * 1024;

/// Parses one reply from the start of `buf`: `Ok(Some((reply, consumed)))`, or `Ok(None)` if
/// `buf` holds only part of it (read more and call again; `need` gets a hint of how many bytes
/// the whole reply needs at least).
pub(crate) fn parse(buf: &[u8], need: &mut usize) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0, need)? {
        Some(r) => Ok(Some((r, pos))),
        None => Ok(None),
    }
}

fn line(buf: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = &buf[pos..];
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) if i <= MAX_LINE => Ok(Some((&rest[..i], pos + i + 2))),
        Some(_) => Err(ProtocolError("reply line too long".into())),
        None if rest.len() > MAX_LINE + 1 => Err(ProtocolError("reply line too long".into())),
        None => Ok(None),
    }
}

fn int(text: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            ProtocolError(format!(
                "bad number {:?} in a reply",
                String::from_utf8_lossy(&text[..text.len().min(32)])
            ))
        })
}

fn parse_at(
    buf: &[u8],
    pos: &mut usize,
    depth: usize,
    need: &mut usize,
) -> Result<Option<Reply>, ProtocolError> {
    if *pos >= buf.len() {
        *need = (*need).max(*pos + 1);
        return Ok(None);
    }
    let kind = buf[*pos];
    let Some((text, next)) = line(buf, *pos + 1)? else {
        *need = (*need).max(buf.len() + 1);
        return Ok(None);
    };
    let reply = match kind {
        b'+' => Reply::Simple(text.to_vec()),
        b'-' => Reply::Error(String::from_utf8_lossy(text).into_owned()),
        b':' => Reply::Int(int(text)?),
        b'$' => {
            let len = int(text)?;
            if len == -1 {
                Reply::Bulk(None)
            } else if !(0..=MAX_BULK).contains(&len) {
                return Err(ProtocolError(format!("bad bulk length {len}")));
            } else {
                let end = next + len as usize;
                if buf.len() < end + 2 {
                    *need = (*need).max(end + 2);
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ProtocolError("bulk string without its line end".into()));
                }
                *pos = end + 2;
                return Ok(Some(Reply::Bulk(Some(buf[next..end].to_vec()))));
            }
        }
        b'*' => {
            let n = int(text)?;
            if n == -1 {
                Reply::Array(None)
            } else if n < 0 || n > (buf.len() - next) as i64 {
                // Every element takes at least 3 bytes: more elements than bytes left is
                // either incomplete or absurd; only a sane count is waited for.
                if !(0..=MAX_BULK).contains(&n) {
                    return Err(ProtocolError(format!("bad array length {n}")));
                }
                *need = (*need).max(next + n as usize * 3);
                return Ok(None);
            } else if depth >= MAX_DEPTH {
                return Err(ProtocolError("reply nested too deeply".into()));
            } else {
                *pos = next;
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    match parse_at(buf, pos, depth + 1, need)? {
                        Some(r) => items.push(r),
                        None => return Ok(None),
                    }
                }
                return Ok(Some(Reply::Array(Some(items))));
            }
        }
        other => {
            return Err(ProtocolError(format!(
                "unexpected reply type byte 0x{other:02x}"
            )))
        }
    };
    *pos = next;
    Ok(Some(reply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_reply() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            proptest::collection::vec(
                any::<u8>().prop_filter("no line end", |b| *b != b'\r' && *b != b'\n'),
                0..16
            )
            .prop_map(Reply::Simple),
            "[a-zA-Z ]{0,20}".prop_map(Reply::Error),
            any::<i64>().prop_map(Reply::Int),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(Reply::Bulk),
            Just(Reply::Array(None)),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(|v| Reply::Array(Some(v)))
        })
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        command(&[b"DUMP", b"k\r\n"], &mut out);
        assert_eq!(out, b"*2\r\n$4\r\nDUMP\r\n$3\r\nk\r\n\r\n");
        let mut need = 0;
        let (r, n) = parse(&out, &mut need).unwrap().unwrap();
        assert_eq!(n, out.len());
        assert_eq!(
            r,
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"DUMP".to_vec())),
                Reply::Bulk(Some(b"k\r\n".to_vec()))
            ]))
        );
    }

    #[test]
    fn rejects_garbage() {
        let mut need = 0;
        assert!(parse(b"?x\r\n", &mut need).is_err());
        assert!(parse(b"$abc\r\n", &mut need).is_err());
        assert!(parse(b"$3\r\nabcXY", &mut need).is_err());
        assert!(parse(b"$-2\r\n", &mut need).is_err());
        assert!(parse(b"*-5\r\n", &mut need).is_err());
    }

    #[test]
    fn hints_the_size_of_a_partial_bulk() {
        let mut need = 0;
        assert_eq!(parse(b"$1000\r\nab", &mut need).unwrap(), None);
        assert_eq!(need, 7 + 1000 + 2);
    }

    proptest! {
        #[test]
        fn replies_round_trip(replies in proptest::collection::vec(arb_reply(), 1..5)) {
            let mut data = Vec::new();
            for r in &replies {
                r.encode(&mut data);
            }
            let mut pos = 0;
            for r in &replies {
                let mut need = 0;
                let (got, n) = parse(&data[pos..], &mut need).unwrap().unwrap();
                prop_assert_eq!(&got, r);
                pos += n;
            }
            prop_assert_eq!(pos, data.len());
        }

        #[test]
        fn every_prefix_is_incomplete(reply in arb_reply()) {
            let mut data = Vec::new();
            reply.encode(&mut data);
            for cut in 0..data.len() {
                let mut need = 0;
                prop_assert_eq!(parse(&data[..cut], &mut need).unwrap(), None);
                prop_assert!(need > cut && need <= data.len(), "need {} cut {} len {}", need, cut, data.len());
            }
        }

        /// A stream of replies cut in two at every byte boundary (as two reads may deliver it)
        /// decodes to the same replies: whatever is complete in the first part, then the rest
        /// once the second arrives.
        #[test]
        fn a_stream_split_at_every_byte_decodes_the_same(replies in proptest::collection::vec(arb_reply(), 1..4)) {
            let mut data = Vec::new();
            for r in &replies {
                r.encode(&mut data);
            }
            for cut in 0..=data.len() {
                let mut got = Vec::new();
                let mut buf = data[..cut].to_vec();
                let mut pos = 0;
                for more in [None, Some(&data[cut..])] {
                    if let Some(more) = more {
                        buf.extend_from_slice(more);
                    }
                    loop {
                        let mut need = 0;
                        match parse(&buf[pos..], &mut need).unwrap() {
                            Some((r, n)) => {
                                got.push(r);
                                pos += n;
                            }
                            None => {
                                prop_assert!(need > buf.len() - pos);
                                break;
                            }
                        }
                    }
                }
                prop_assert_eq!(&got, &replies, "cut at {}", cut);
                prop_assert_eq!(pos, data.len());
            }
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut need = 0;
            let _ = parse(&data, &mut need);
        }

        #[test]
        fn commands_parse_as_arrays_of_bulks(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6)) {
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let mut out = Vec::new();
            command(&refs, &mut out);
            let mut need = 0;
            let (got, n) = parse(&out, &mut need).unwrap().unwrap();
            prop_assert_eq!(n, out.len());
            prop_assert_eq!(got, Reply::Array(Some(args.into_iter().map(|a| Reply::Bulk(Some(a))).collect())));
        }
    }
}
