//! LZF decompression (the format of Redis's compressed RDB strings).

/// The most output one input byte can produce: a long back-reference is 3 bytes for at most
/// 7 + 255 + 2 = 264 bytes.
const MAX_RATIO: usize = 88;

/// Decompresses `input` into exactly `out_len` bytes; `None` if the data is malformed.
///
/// `out_len` comes from the stream: one larger than `input` can expand to is refused before
/// anything is allocated (a hostile length must not allocate gigabytes).
pub(crate) fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if out_len > input.len().saturating_mul(MAX_RATIO) {
        return None;
    }
    let mut out = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            let lit = input.get(i..i + len)?;
            if out.len() + len > out_len {
                return None;
            }
            out.extend_from_slice(lit);
            i += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            if back > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - back;
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_backref() {
        // "abcabcabc": literal "abc" (ctrl 2), then a back-reference of 6 bytes, distance 3.
        let data = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(decompress(&data, 9).unwrap(), b"abcabcabc");
        assert!(decompress(&data, 8).is_none());
        assert!(decompress(&[0x20, 5], 3).is_none());
    }

    #[test]
    fn a_huge_announced_length_is_refused_without_allocating() {
        // 4 GiB announced for 6 bytes of input: refused up front (no 4 GiB allocation).
        assert!(decompress(&[2, b'a', b'b', b'c', (4 << 5), 2], 4 << 30).is_none());
        // The largest real expansion still works: one literal, then 3-byte references
        // of 264 bytes each.
        let mut data = vec![0, b'z'];
        for _ in 0..10 {
            data.extend_from_slice(&[0xE0, 255, 0]);
        }
        let out = decompress(&data, 1 + 10 * 264).unwrap();
        assert!(out.iter().all(|b| *b == b'z'));
    }
}
