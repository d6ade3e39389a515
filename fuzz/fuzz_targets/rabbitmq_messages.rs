//! The `rabbitmq-definitions+messages` (JSON lines) reader, as `verify` and a restore run it.
#![no_main]
#[path = "common.rs"]
mod common;

use store_rabbitmq::DumpFormat;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = common::block_on(store_rabbitmq::fuzzing::dump(data, DumpFormat::Messages));
});
