//! The RDB parser, as `verify` (digest) and a restore (DUMP payloads) run it on a stored dump
//! (`store_redis::fuzzing::rdb`).
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = common::block_on(store_redis::fuzzing::rdb(data));
});
