//! The manifest parser (every listing, restore and verify reads manifests from storage) and the
//! stores' typed metadata inside it (`backup_core::fuzzing::manifest`): a manifest that parses
//! must survive a round trip; an error must not carry raw stored bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(manifest) = backup_core::fuzzing::manifest(data) {
        let _ = manifest.metadata_as::<store_redis::RedisMetadata>();
        let _ = manifest.metadata_as::<store_files::FilesMetadata>();
        let _ = manifest.metadata_as::<store_rabbitmq::RabbitmqMetadata>();
    }
});
