//! The streaming definitions scanner, fed in chunks of every size the first byte picks, and the
//! `rabbitmq-definitions` dump reader around it (`store_rabbitmq::fuzzing::definitions`).
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = common::block_on(store_rabbitmq::fuzzing::definitions(data));
});
