//! The RESP codec of the raw connections, on arbitrary server replies.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = store_redis::fuzzing::resp(data);
});
