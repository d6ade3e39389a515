//! The restore side of the byte path on an arbitrary stored object: age decryption (with the
//! fixed test identity in `fuzz/test-identity.txt`, which the seeds are encrypted to, or a
//! passphrase) and zstd or gzip decompression. The first byte picks the chain; the output is
//! read in a bounded buffer and capped, as a restore streams it.
#![no_main]
#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use age::secrecy::SecretString;
use backup_core::transform::{transform_for_restore, Keyring, Transform};
use backup_core::{BoxReader, TransformSpec};
use tokio::io::AsyncReadExt;

/// Decompressed bytes read per input at most: enough to pass any seed, small enough that a
/// compression bomb costs a bounded time (memory is bounded by the streaming either way).
const MAX_OUTPUT: u64 = 64 << 20;

fn keyring() -> &'static Keyring {
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    KEYRING.get_or_init(|| {
        let identity: age::x25519::Identity = include_str!("../test-identity.txt")
            .trim()
            .parse()
            .expect("the test identity parses");
        Keyring::new()
            .with_identities(vec![identity])
            .with_passphrase(SecretString::from("fuzz".to_string()))
            // A hostile scrypt header must not make each run take seconds.
            .with_max_work_factor(4)
    })
}

async fn run(selector: u8, stored: &[u8]) {
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
        reader = match transform_for_restore(&spec, keyring())
            .wrap_reader(reader)
            .await
        {
            Ok(r) => r,
            Err(_) => return,
        };
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    while total < MAX_OUTPUT {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n as u64,
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, stored)) = data.split_first() else {
        return;
    };
    common::block_on(run(selector, stored));
});
