//! The streaming definitions scanner, fed in chunks of every size the first byte picks, and the
//! `rabbitmq-definitions` dump reader around it.
#![no_main]
#[path = "common.rs"]
mod common;

use store_rabbitmq::DumpFormat;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&chunk, doc)) = data.split_first() else {
        return;
    };
    let _ = store_rabbitmq::fuzzing::scan(doc, usize::from(chunk) + 1);
    let _ = common::block_on(store_rabbitmq::fuzzing::dump(doc, DumpFormat::Definitions));
});
