//! The manifest parser (every listing, restore and verify reads manifests from storage) and the
//! stores' typed metadata inside it. A manifest that parses must survive a round trip; an error
//! must not carry raw stored bytes.
#![no_main]
#[path = "common.rs"]
mod common;

use backup_core::Manifest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match Manifest::from_json(data) {
        Ok(manifest) => {
            let json = manifest.to_json().expect("a parsed manifest serializes");
            let again = Manifest::from_json(&json).expect("a written manifest parses");
            assert_eq!(
                serde_json::to_value(&again).ok(),
                serde_json::to_value(&manifest).ok()
            );
            let _ = manifest.metadata_as::<store_redis::RedisMetadata>();
            let _ = manifest.metadata_as::<store_files::FilesMetadata>();
            let _ = manifest.metadata_as::<store_rabbitmq::RabbitmqMetadata>();
        }
        Err(err) => common::assert_shown_safely(&err),
    }
});
