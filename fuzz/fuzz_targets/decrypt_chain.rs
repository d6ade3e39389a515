//! The restore side of the byte path on an arbitrary stored object
//! (`backup_core::fuzzing::decrypt_chain`): age decryption (with the fixed test identity in
//! `fuzz/test-identity.txt`, which the seeds are encrypted to, or a passphrase) and zstd or
//! gzip decompression. The first byte picks the chain; the output is read in a bounded buffer
//! and capped, as a restore streams it.
#![no_main]
#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use backup_core::transform::Keyring;

fn keyring() -> &'static Keyring {
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    KEYRING.get_or_init(|| backup_core::fuzzing::keyring(include_str!("../test-identity.txt")))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = common::block_on(backup_core::fuzzing::decrypt_chain(data, keyring()));
});
