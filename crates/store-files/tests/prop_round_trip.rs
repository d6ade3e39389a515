//! Property: any small tree of files (arbitrary names, contents and modes) restores exactly.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use backup_core::{FormatCheck, RestoreOptions, Target};
use common::{backup, manifest, snapshot, write_file};
use proptest::prelude::*;
use store_files::{FilesCheck, FilesTarget};

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.é日-]{1,12}".prop_filter("not . or ..", |name| name != "." && name != "..")
}

fn tree() -> impl Strategy<Value = BTreeMap<PathBuf, (Vec<u8>, u32)>> {
    let file = (
        prop::collection::vec(name(), 1..4),
        prop::collection::vec(any::<u8>(), 0..2048),
        prop::sample::select(vec![0o600u32, 0o640, 0o644, 0o700, 0o755]),
    );
    prop::collection::vec(file, 0..12).prop_map(|files| {
        let mut tree: BTreeMap<PathBuf, (Vec<u8>, u32)> = BTreeMap::new();
        for (parts, data, mode) in files {
            let path: PathBuf = parts.iter().collect();
            // Skip a file that would sit below another file, or on a directory.
            let clashes = tree
                .keys()
                .any(|other| path.starts_with(other) || other.starts_with(&path));
            if !clashes {
                tree.insert(path, (data, mode));
            }
        }
        tree
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn arbitrary_trees_round_trip(tree in tree()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("tree");
            fs::create_dir(&root).unwrap();
            for (path, (data, mode)) in &tree {
                write_file(&root.join(path), data, *mode);
            }
            let (tar, metadata) = backup(vec![root.clone()], vec![]).await;
            assert_eq!(metadata["files"], tree.len());
            let bytes: usize = tree.values().map(|(data, _)| data.len()).sum();
            assert_eq!(metadata["bytes"], bytes);

            let manifest = manifest(metadata);
            FilesCheck::new().check(&mut &tar[..], &manifest).await.unwrap();
            let out = tmp.path().join("out");
            FilesTarget::new(&out)
                .restore(&mut &tar[..], &manifest, &RestoreOptions::default())
                .await
                .unwrap();
            assert_eq!(snapshot(&out.join("tree")), snapshot(&root));
        });
    }
}
