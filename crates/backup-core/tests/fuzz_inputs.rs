//! The fuzz targets' inputs as ordinary tests: the committed seeds (`fuzz/seeds/`: real
//! manifests, real encrypted objects) and every input a fuzzer found a bug with
//! (`tests/fuzz-regressions/`). CI runs these; `fuzz/run.sh` explores further.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use backup_core::transform::{transform_for_restore, Keyring};
use backup_core::{BoxReader, Manifest, TransformSpec};
use tokio::io::AsyncReadExt;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in [
        repo().join("fuzz/seeds").join(target),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz-regressions")
            .join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        out.extend(files.into_iter().map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        }));
    }
    out
}

fn is_seed(path: &Path) -> bool {
    path.to_string_lossy().contains("/seeds/")
}

#[test]
fn manifest_inputs() {
    let all = inputs("manifest");
    assert!(!all.is_empty());
    for (path, data) in all {
        match Manifest::from_json(&data) {
            Ok(m) => assert_eq!(Manifest::from_json(&m.to_json().unwrap()).unwrap(), m),
            Err(e) => assert!(!is_seed(&path), "{}: {e}", path.display()),
        }
    }
}

/// The seeds of the `decrypt_chain` target: a selector byte (1: age then zstd, 5: age then
/// gzip), then an object a real backup stored, encrypted to `fuzz/test-identity.txt`.
#[tokio::test]
async fn decrypt_chain_seeds_decrypt_and_decompress() {
    let identity: age::x25519::Identity =
        std::fs::read_to_string(repo().join("fuzz/test-identity.txt"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    let keyring = Keyring::new().with_identities(vec![identity]);
    let all = inputs("decrypt_chain");
    assert!(!all.is_empty());
    for (path, data) in all.into_iter().filter(|(p, _)| is_seed(p)) {
        let (&selector, stored) = data.split_first().unwrap();
        let compression = match selector {
            1 => TransformSpec::Zstd {
                level: 3,
                workers: 0,
            },
            5 => TransformSpec::Gzip { level: 6 },
            other => panic!("{}: selector {other}", path.display()),
        };
        let age = TransformSpec::AgeX25519 {
            recipients: Vec::new(),
        };
        let mut reader: BoxReader = Box::new(std::io::Cursor::new(stored.to_vec()));
        for spec in [age, compression] {
            reader = transform_for_restore(&spec, &keyring)
                .wrap_reader(reader)
                .await
                .unwrap();
        }
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        assert!(!out.is_empty(), "{}", path.display());
    }
}
