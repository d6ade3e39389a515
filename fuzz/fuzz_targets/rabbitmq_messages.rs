//! The `rabbitmq-definitions+messages` (JSON lines) reader, as `verify` and a restore run it
//! (`store_rabbitmq::fuzzing::messages`).
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = common::block_on(store_rabbitmq::fuzzing::messages(data));
});
