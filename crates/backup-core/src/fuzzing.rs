//! Entry points for the fuzz targets in `fuzz/` at the repository root (ARCHITECTURE.md, "Fuzz
//! a parser"), shared with the replay of their inputs in `tests/fuzz_inputs.rs`: each runs the
//! code that reads stored bytes as lifeboat does, and panics where lifeboat's own contract is
//! broken (an error is fine). Hidden from the docs and not a stable API.

use age::secrecy::SecretString;
use tokio::io::AsyncReadExt;

use crate::transform::{transform_for_restore, Keyring};
use crate::{BoxReader, Manifest, TransformSpec};

/// Decompressed bytes [`decrypt_chain`] reads per input at most: enough to pass any seed,
/// small enough that a compression bomb costs a bounded time (memory is bounded by the
/// streaming either way).
pub const MAX_OUTPUT: u64 = 64 << 20;

/// Parses `data` as a manifest read from storage. One that parses must survive a round trip
/// (it is returned, for the stores' metadata); an error must be shown safely
/// ([`assert_shown_safely`]).
pub fn manifest(data: &[u8]) -> Option<Manifest> {
    match Manifest::from_json(data) {
        Ok(manifest) => {
            let json = manifest.to_json().expect("a parsed manifest serializes");
            let again = Manifest::from_json(&json).expect("a written manifest parses");
            assert_eq!(
                serde_json::to_value(&again).ok(),
                serde_json::to_value(&manifest).ok(),
                "a manifest changed in a round trip"
            );
            Some(manifest)
        }
        Err(err) => {
            assert_shown_safely(&err);
            None
        }
    }
}

/// The keyring [`decrypt_chain`] is given: the x25519 identity in `identity` (the text of
/// `fuzz/test-identity.txt`, which the seeds are encrypted to) and the passphrase `fuzz`, with
/// a low scrypt work factor so a hostile header cannot make each run take seconds.
pub fn keyring(identity: &str) -> Keyring {
    let identity: age::x25519::Identity =
        identity.trim().parse().expect("the test identity parses");
    Keyring::new()
        .with_identities(vec![identity])
        .with_passphrase(SecretString::from("fuzz".to_string()))
        .with_max_work_factor(4)
}

/// Runs `data` through the restore side of the byte path: its first byte picks the chain
/// (bits 0–1: none, age x25519 or age scrypt; bits 2–3: zstd, gzip, zstd with workers or
/// none), the rest is the stored object. Reads the output in a bounded buffer, as a restore
/// streams it, up to [`MAX_OUTPUT`], and returns how many bytes it read before the end, or
/// `None` when a stage failed (which is fine for arbitrary input).
pub async fn decrypt_chain(data: &[u8], keyring: &Keyring) -> Option<u64> {
    let (&selector, stored) = data.split_first()?;
    let age = match selector & 0b11 {
        0 => None,
        1 | 2 => Some(TransformSpec::AgeX25519 {
            recipients: Vec::new(),
        }),
        _ => Some(TransformSpec::AgeScrypt),
    };
    let compression = match (selector >> 2) & 0b11 {
        0 => Some(TransformSpec::Zstd {
            level: 3,
            workers: 0,
        }),
        1 => Some(TransformSpec::Gzip { level: 6 }),
        2 => Some(TransformSpec::Zstd {
            level: 3,
            workers: 2,
        }),
        _ => None,
    };
    // Restore undoes the backup order (compress, then encrypt) in reverse.
    let mut reader: BoxReader = Box::new(std::io::Cursor::new(stored.to_vec()));
    for spec in [age, compression].into_iter().flatten() {
        reader = transform_for_restore(&spec, keyring)
            .wrap_reader(reader)
            .await
            .ok()?;
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    while total < MAX_OUTPUT {
        match reader.read(&mut buf).await.ok()? {
            0 => return Some(total),
            n => total += n as u64,
        }
    }
    Some(total)
}

/// An error's text (with its causes) must be bounded and free of control characters, whatever
/// the input: stored bytes never reach a terminal raw (README, "Security model").
pub fn assert_shown_safely(err: &dyn std::error::Error) {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    assert!(
        text.len() < 4096,
        "an error of {} bytes: {:.200}",
        text.len(),
        text
    );
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "an error with a control character: {text:?}"
    );
}
