//! Any bytes through every transform chain come back bit-identical, and the manifest's
//! checksums describe exactly what was written.
#![allow(clippy::unwrap_used)]

mod common;

use backup_core::transform::Compression;
use common::{backup, read_back, sinks, BytesSource, Enc, Keys};
use lifeboat_testing::MemorySink;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn compressions() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        (1i32..=19, 0u32..=2).prop_map(|(level, workers)| Compression::Zstd { level, workers }),
        (1u32..=9).prop_map(|level| Compression::Gzip { level }),
    ]
}

fn encryptions() -> impl Strategy<Value = Enc> {
    prop_oneof![Just(Enc::None), Just(Enc::Recipient), Just(Enc::Passphrase)]
}

fn payloads() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // random bytes, sizes around age's 64 KiB chunk boundary included
        proptest::collection::vec(any::<u8>(), 1..200_000),
        // compressible text
        (1usize..50_000).prop_map(|n| b"lifeboat ".iter().copied().cycle().take(n).collect()),
        Just(vec![0u8; 65_536]),
        Just(vec![7u8; 65_537]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_chain_round_trips(data in payloads(), compression in compressions(), enc in encryptions()) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let keys = Keys::new();
            let sink = MemorySink::new("mem");
            let transforms = keys.transforms(compression, enc);
            let outcome = backup(&BytesSource::new(data.clone()), &transforms, &sinks(&sink)).await.unwrap();
            let artifact = &outcome.manifest.artifact;

            prop_assert_eq!(artifact.raw_bytes, data.len() as u64);
            prop_assert_eq!(&artifact.raw_sha256, &hex::encode(Sha256::digest(&data)));
            let stored = sink.object(&artifact.key).unwrap();
            prop_assert_eq!(artifact.stored_bytes, stored.len() as u64);
            prop_assert_eq!(&artifact.stored_sha256, &hex::encode(Sha256::digest(&stored)));
            prop_assert_eq!(outcome.manifest.transforms.len(), transforms.len());

            let restored = read_back(&sink, &outcome, &keys.keyring()).await.unwrap();
            prop_assert!(restored == data, "restored bytes differ");
            Ok(())
        })?;
    }
}
