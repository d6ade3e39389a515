//! Errors about an archive quote its entry names only as escaped, capped excerpts: a tampered
//! tar cannot put terminal escapes or a huge name into a message.
#![allow(clippy::unwrap_used)]

/// A tar holding one file whose stored name is `name` (bytes as they are, GNU long name).
fn tar_with_name(name: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    // A long name goes in a GNU `././@LongLink` entry first; the name checks come after.
    let mut long = tar::Header::new_gnu();
    long.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    long.set_entry_type(tar::EntryType::GNULongName);
    long.set_size(name.len() as u64 + 1);
    long.set_cksum();
    let mut data = name.to_vec();
    data.push(0);
    builder.append(&long, data.as_slice()).unwrap();
    header.as_gnu_mut().unwrap().name[..1].copy_from_slice(b"x");
    header.set_cksum();
    builder.append(&header, &b"a"[..]).unwrap();
    builder.into_inner().unwrap()
}

#[test]
fn an_unsafe_entry_is_named_escaped_and_capped() {
    let mut name = b"../\x1b[2J\x1b]0;pwned\x07".to_vec();
    name.extend(std::iter::repeat_n(b'n', 100_000));
    let dir = tempfile::tempdir().unwrap();
    let err = store_files::fuzzing::extract(&tar_with_name(&name), dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.len() < 512, "{} bytes", text.len());
    assert!(text.contains("../\\u{1b}[2J"), "{text}");
}
