//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use backup_core::{Manifest, Source};
use serde_json::{json, Value};
use store_files::FilesSource;
use tokio::io::AsyncWrite;

/// A manifest as the pipeline would write it for a files backup with `metadata`.
pub fn manifest(metadata: Value) -> Manifest {
    lifeboat_testing::manifest("files", "tar", metadata)
}

/// Metadata with the given counts.
pub fn counts(files: u64, dirs: u64, symlinks: u64, bytes: u64) -> Value {
    json!({
        "files": files, "dirs": dirs, "symlinks": symlinks, "bytes": bytes,
        "paths": ["x"], "exclude": [],
    })
}

/// Backs `paths` up into memory.
pub async fn backup(paths: Vec<PathBuf>, exclude: Vec<&str>) -> (Vec<u8>, Value) {
    let source = FilesSource::new(paths, exclude.into_iter().map(String::from).collect()).unwrap();
    let mut tar = Vec::new();
    let metadata = source.backup(&mut tar).await.map(|d| d.metadata).unwrap();
    (tar, metadata)
}

/// Names in `dir` that a restore leaves behind on failure: staging directories
/// (`.<name>.lifeboat-XXXXXX`) or moved-aside ones (`.lifeboat-old-XXXXXX`).
pub fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.') && name.contains(".lifeboat-"))
        .collect()
}

/// One node of a tree, as far as a restore must preserve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file.
    File {
        /// Contents.
        data: Vec<u8>,
        /// Permission bits.
        mode: u32,
        /// mtime in seconds.
        mtime: i64,
    },
    /// A directory.
    Dir {
        /// Permission bits.
        mode: u32,
        /// mtime in seconds.
        mtime: i64,
    },
    /// A symbolic link.
    Symlink {
        /// Where it points.
        target: PathBuf,
        /// mtime in seconds.
        mtime: i64,
    },
}

/// Everything below `root` (not following symlinks), keyed by relative path.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut nodes = BTreeMap::new();
    collect(root, Path::new(""), &mut nodes);
    nodes
}

fn collect(root: &Path, rel: &Path, nodes: &mut BTreeMap<PathBuf, Node>) {
    let path = if rel.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let meta = fs::symlink_metadata(&path).unwrap();
    let mode = meta.permissions().mode() & 0o7777;
    let mtime = meta.mtime();
    let node = if meta.file_type().is_symlink() {
        Node::Symlink {
            target: fs::read_link(&path).unwrap(),
            mtime,
        }
    } else if meta.is_dir() {
        let mut children: Vec<_> = fs::read_dir(&path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        children.sort();
        for child in children {
            collect(root, &rel.join(child), nodes);
        }
        Node::Dir { mode, mtime }
    } else {
        Node::File {
            data: fs::read(&path).unwrap(),
            mode,
            mtime,
        }
    };
    nodes.insert(rel.to_path_buf(), node);
}

/// A raw 512-byte ustar header, written byte by byte so any name can be used (`tar::Builder`
/// refuses `..` and absolute paths).
pub fn raw_header(name: &[u8], typeflag: u8, link: &[u8], size: u64) -> Vec<u8> {
    assert!(name.len() <= 100 && link.len() <= 100);
    let mut header = vec![0u8; 512];
    header[..name.len()].copy_from_slice(name);
    let mode: &[u8] = if typeflag == b'5' {
        b"0000755\0"
    } else {
        b"0000644\0"
    };
    header[100..108].copy_from_slice(mode);
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    header[136..148].copy_from_slice(format!("{:011o}\0", 1_600_000_000u64).as_bytes());
    header[148..156].copy_from_slice(b"        ");
    header[156] = typeflag;
    header[157..157 + link.len()].copy_from_slice(link);
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let sum: u32 = header.iter().map(|byte| u32::from(*byte)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    header
}

/// A raw entry: header plus data padded to 512 bytes.
pub fn raw_entry(name: &[u8], typeflag: u8, link: &[u8], data: &[u8]) -> Vec<u8> {
    let mut entry = raw_header(name, typeflag, link, data.len() as u64);
    entry.extend_from_slice(data);
    let padding = (512 - data.len() % 512) % 512;
    entry.resize(entry.len() + padding, 0);
    entry
}

/// The end-of-archive marker.
pub fn end_marker() -> Vec<u8> {
    vec![0u8; 1024]
}

#[allow(unused_imports)] // not every test binary uses it
pub use lifeboat_testing::FailingReader;

/// A writer that accepts `limit` bytes, then fails.
pub struct FailingWriter {
    pub written: usize,
    pub limit: usize,
}

impl AsyncWrite for FailingWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.written >= self.limit {
            return Poll::Ready(Err(io::Error::other("storage is full")));
        }
        let n = buf.len().min(self.limit - self.written);
        self.written += n;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Writes `data` to `path` with `mode`, creating parents.
pub fn write_file(path: &Path, data: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
