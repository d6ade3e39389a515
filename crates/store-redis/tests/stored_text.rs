//! Errors about a dump quote its keys only as escaped, capped excerpts: a tampered dump cannot
//! put terminal escapes or a huge key into a message.
#![allow(clippy::unwrap_used)]

fn logical_dump(key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = b"lifeboat-redis-logical 1\n".to_vec();
    out.push(b'K');
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(-1i64).to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(b'E');
    out.extend_from_slice(&1u64.to_be_bytes());
    out
}

#[tokio::test]
async fn a_bad_payload_names_its_key_escaped_and_capped() {
    let mut key = b"\x1b[2J\x1b]0;pwned\x07".to_vec();
    key.extend(std::iter::repeat_n(b'k', 1 << 20));
    let err = store_redis::fuzzing::logical(&logical_dump(&key, b"bad"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.len() < 512, "{} bytes", text.len());
    assert!(text.contains("key \\u{1b}[2J"), "{text}");
    assert!(text.contains("(1048590 bytes)"), "{text}");
}
