//! The `redis-logical` dump reader, as `verify` and a restore run it.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = common::block_on(store_redis::fuzzing::logical(data));
});
