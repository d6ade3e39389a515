//! [`FilesSource`]: the configured paths as one tar stream.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use backup_core::{Preflight, Source, StoreError};
use globset::GlobSet;
use serde_json::{json, Value};
use tar::{Builder, Header, HeaderMode};
use tokio::io::AsyncWrite;
use tokio_util::io::SyncIoBridge;

use crate::counts::Counts;
use crate::metadata::FilesMetadata;
use crate::stream::{drain_into, settle_writer, CHUNK};
use crate::walk::{build_excludes, walk, Item, ItemKind, Root};
use crate::FilesError;

/// Backs up a list of files and directories (configs, certificates, logs) as one tar stream.
///
/// Each configured path becomes a top-level entry named after its last component: `./config`
/// is stored as `config/...`, a single file `./certs/a.pem` as `a.pem`. The walk is sorted
/// (the same tree gives the same bytes), never follows symlinks (they are stored as links,
/// dangling ones included), keeps empty directories, modes and mtimes, and skips what
/// `exclude` matches. Anything that cannot be read fails the backup, naming the path: a backup
/// that silently misses files is not a backup.
///
/// Config (`kind = "files"`): `paths = ["./config", "./certs"]`, `exclude = ["*.tmp"]`.
#[derive(Debug, Clone)]
pub struct FilesSource {
    inner: Arc<Config>,
}

#[derive(Debug)]
struct Config {
    paths: Vec<PathBuf>,
    exclude: Vec<String>,
    roots: Vec<Root>,
    globs: GlobSet,
}

impl FilesSource {
    /// Checks the configuration: at least one path, every path with a file name and no two
    /// paths with the same one, every `exclude` pattern a valid glob.
    ///
    /// Exclude patterns are matched against the path relative to its configured path
    /// (`sub/cache`) and against the file name alone (`*.tmp`); `*` also matches `/`. An
    /// excluded directory is not descended into. The configured paths themselves are never
    /// excluded.
    ///
    /// # Errors
    ///
    /// A [`FilesError`] of kind `Config` naming the offending path or pattern.
    pub fn new(paths: Vec<PathBuf>, exclude: Vec<String>) -> Result<Self, FilesError> {
        let roots = Root::from_paths(&paths)?;
        let globs = build_excludes(&exclude)?;
        Ok(Self {
            inner: Arc::new(Config {
                paths,
                exclude,
                roots,
                globs,
            }),
        })
    }

    /// The configured paths, as given.
    pub fn paths(&self) -> &[PathBuf] {
        &self.inner.paths
    }

    /// The configured exclude patterns.
    pub fn exclude(&self) -> &[String] {
        &self.inner.exclude
    }

    fn metadata(&self, counts: Counts) -> FilesMetadata {
        FilesMetadata::new(counts, self.display_paths(), self.inner.exclude.clone())
    }

    fn display_paths(&self) -> Vec<String> {
        self.inner
            .paths
            .iter()
            .map(|path| path.to_string_lossy().into_owned())
            .collect()
    }
}

#[async_trait]
impl Source for FilesSource {
    fn kind(&self) -> &'static str {
        crate::KIND
    }

    fn dump_format(&self) -> &'static str {
        crate::FORMAT
    }

    fn extension(&self) -> &'static str {
        "tar"
    }

    /// Checks every configured path exists and walks the trees: counts files, directories,
    /// symlinks and bytes, and estimates the size of the tar stream.
    async fn preflight(&self) -> Result<Preflight, StoreError> {
        let config = Arc::clone(&self.inner);
        let outcome = tokio::task::spawn_blocking(move || survey(&config)).await;
        let (counts, estimate) = crate::stream::joined("preflight", outcome)?;
        let mut details = counts.to_json();
        if let Value::Object(fields) = &mut details {
            fields.insert("paths".into(), json!(self.display_paths()));
        }
        Ok(Preflight {
            version: None,
            estimated_bytes: Some(estimate),
            details,
        })
    }

    /// Streams the tar archive into `out` (never shut down) and returns the metadata
    /// ([`FilesMetadata`]).
    async fn backup(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<backup_core::Dumped, StoreError> {
        let (writer, reader) = tokio::io::duplex(CHUNK);
        let bridge = SyncIoBridge::new(writer);
        let config = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || write_archive(bridge, &config));
        let (drained, outcome) = tokio::join!(drain_into(reader, out), task);
        let counts = settle_writer(drained, "tar writer", outcome)?;
        tracing::debug!(
            files = counts.files,
            dirs = counts.dirs,
            symlinks = counts.symlinks,
            bytes = counts.bytes,
            "files backup streamed"
        );
        backup_core::Dumped::new(&self.metadata(counts))
    }
}

/// Walks everything for `preflight`: the counts and an estimate of the tar stream's size.
fn survey(config: &Config) -> Result<(Counts, u64), FilesError> {
    let mut counts = Counts::default();
    // The end-of-archive marker.
    let mut estimate = 1024u64;
    for root in &config.roots {
        root.check_exists()?;
    }
    for root in &config.roots {
        walk(root, &config.globs, &mut |item| {
            estimate += 512 + long_name_overhead(&item.archive_path);
            match item.kind {
                ItemKind::File => {
                    counts.files += 1;
                    counts.bytes += item.meta.len();
                    estimate += item.meta.len().div_ceil(512) * 512;
                }
                ItemKind::Dir => counts.dirs += 1,
                ItemKind::Symlink => {
                    counts.symlinks += 1;
                    let target =
                        fs::read_link(item.fs_path).map_err(|source| FilesError::Read {
                            path: item.fs_path.to_path_buf(),
                            step: "reading the symlink's target",
                            source,
                        })?;
                    estimate += long_name_overhead(&target);
                }
            }
            Ok(())
        })?;
    }
    Ok((counts, estimate))
}

/// The GNU long-name (or long-link) entry `tar` writes for a name over 100 bytes.
fn long_name_overhead(path: &Path) -> u64 {
    let len = path.as_os_str().len() as u64;
    if len > 100 {
        512 + (len + 1).div_ceil(512) * 512
    } else {
        0
    }
}

/// A writer that can be made to refuse every further write, so that dropping the tar
/// `Builder` after a failure (its `Drop` writes the end marker) cannot make a failed stream
/// look like a complete, shorter archive.
struct Poisonable<W> {
    inner: W,
    poisoned: bool,
}

impl<W: Write> Write for Poisonable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.poisoned {
            return Err(io::Error::other(
                "the backup failed; the archive is abandoned",
            ));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.poisoned {
            return Ok(());
        }
        self.inner.flush()
    }
}

/// The blocking side of `backup`: walks the roots and writes the archive into the pipe.
fn write_archive<W>(bridge: SyncIoBridge<W>, config: &Config) -> Result<Counts, FilesError>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    for root in &config.roots {
        root.check_exists()?;
    }
    let mut builder = Builder::new(Poisonable {
        inner: BufWriter::with_capacity(CHUNK, bridge),
        poisoned: false,
    });
    builder.mode(HeaderMode::Complete);
    builder.follow_symlinks(false);
    let mut counts = Counts::default();
    let written = config.roots.iter().try_for_each(|root| {
        walk(root, &config.globs, &mut |item| {
            append(&mut builder, &item, &mut counts)
        })
    });
    if let Err(err) = written {
        builder.get_mut().poisoned = true;
        return Err(err);
    }
    let finish_err = |source| FilesError::WriteArchive {
        path: PathBuf::new(),
        source,
    };
    let poisonable = builder.into_inner().map_err(finish_err)?;
    let mut bridge = poisonable
        .inner
        .into_inner()
        .map_err(|err| finish_err(err.into_error()))?;
    bridge.shutdown().map_err(finish_err)?;
    Ok(counts)
}

fn append<W: Write>(
    builder: &mut Builder<W>,
    item: &Item<'_>,
    counts: &mut Counts,
) -> Result<(), FilesError> {
    let write_err = |source| FilesError::WriteArchive {
        path: item.fs_path.to_path_buf(),
        source,
    };
    let mut header = Header::new_gnu();
    match item.kind {
        ItemKind::Dir => {
            fill_header(&mut header, &item.meta);
            builder
                .append_data(&mut header, &item.archive_path, io::empty())
                .map_err(write_err)?;
            counts.dirs += 1;
        }
        ItemKind::Symlink => {
            let target = fs::read_link(item.fs_path).map_err(|source| FilesError::Read {
                path: item.fs_path.to_path_buf(),
                step: "reading the symlink's target",
                source,
            })?;
            fill_header(&mut header, &item.meta);
            builder
                .append_link(&mut header, &item.archive_path, &target)
                .map_err(write_err)?;
            counts.symlinks += 1;
        }
        ItemKind::File => {
            let size = append_file(builder, item, &mut header)?;
            counts.files += 1;
            counts.bytes += size;
        }
    }
    Ok(())
}

/// Streams one regular file into the archive; returns its size.
fn append_file<W: Write>(
    builder: &mut Builder<W>,
    item: &Item<'_>,
    header: &mut Header,
) -> Result<u64, FilesError> {
    let path = item.fs_path;
    let file = File::open(path).map_err(|source| FilesError::Read {
        path: path.to_path_buf(),
        step: "opening it",
        source,
    })?;
    // Describe what was opened, and make sure it is what the walk saw (not a symlink or
    // another file swapped in since).
    let meta = file.metadata().map_err(|source| FilesError::Read {
        path: path.to_path_buf(),
        step: "reading its metadata",
        source,
    })?;
    if !meta.is_file() || meta.dev() != item.meta.dev() || meta.ino() != item.meta.ino() {
        return Err(FilesError::Changed {
            path: path.to_path_buf(),
            detail: "it was replaced by another file".into(),
        });
    }
    fill_header(header, &meta);
    let size = meta.len();
    let mut reader = ExactReader {
        inner: file.take(size),
        remaining: size,
        failure: None,
    };
    let written = builder.append_data(header, &item.archive_path, &mut reader);
    if let Some(source) = reader.failure.take() {
        let err = if source.kind() == io::ErrorKind::UnexpectedEof {
            FilesError::Changed {
                path: path.to_path_buf(),
                detail: format!(
                    "it shrank while being read ({} bytes missing)",
                    reader.remaining
                ),
            }
        } else {
            FilesError::Read {
                path: path.to_path_buf(),
                step: "reading its contents",
                source,
            }
        };
        return Err(err);
    }
    written.map_err(|source| FilesError::WriteArchive {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(size)
}

fn fill_header(header: &mut Header, meta: &fs::Metadata) {
    header.set_metadata_in_mode(meta, HeaderMode::Complete);
    // `tar` casts a negative (pre-1970) mtime to a huge unsigned one.
    header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
}

/// Reads exactly `remaining` bytes of a file: a file that shrinks is an error (the header
/// already promised its size), and read errors are kept aside to tell them from write errors.
struct ExactReader<R> {
    inner: R,
    remaining: u64,
    failure: Option<io::Error>,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Ok(0) => {
                let err = io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank");
                self.failure = Some(io::Error::new(err.kind(), "file shrank"));
                Err(err)
            }
            Ok(n) => {
                self.remaining -= n as u64;
                Ok(n)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Err(err),
            Err(err) => {
                let copy = io::Error::new(err.kind(), err.to_string());
                self.failure = Some(err);
                Err(copy)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn item_for(path: &Path) -> Item<'_> {
        Item {
            fs_path: path,
            archive_path: PathBuf::from("x/file"),
            meta: fs::symlink_metadata(path).unwrap(),
            kind: ItemKind::File,
        }
    }

    #[test]
    fn a_file_that_vanishes_after_the_walk_fails_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("gone.log");
        fs::write(&path, b"data").unwrap();
        let item = item_for(&path);
        fs::remove_file(&path).unwrap();
        let mut builder = Builder::new(Vec::new());
        let err = append(&mut builder, &item, &mut Counts::default()).unwrap_err();
        assert!(matches!(err, FilesError::Read { .. }), "{err}");
        assert!(err.to_string().contains("gone.log"), "{err}");
    }

    #[test]
    fn a_file_replaced_after_the_walk_fails_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("swapped.conf");
        fs::write(&path, b"old").unwrap();
        let item = item_for(&path);
        let other = tmp.path().join("other");
        fs::write(&other, b"new contents").unwrap();
        fs::rename(&other, &path).unwrap();
        let mut builder = Builder::new(Vec::new());
        let err = append(&mut builder, &item, &mut Counts::default()).unwrap_err();
        assert!(matches!(err, FilesError::Changed { .. }), "{err}");
        assert!(err.to_string().contains("swapped.conf"), "{err}");
    }

    #[test]
    fn a_file_that_shrinks_while_read_is_an_error() {
        let mut reader = ExactReader {
            inner: &b"abc"[..],
            remaining: 10,
            failure: None,
        };
        let mut sink = Vec::new();
        let err = io::copy(&mut reader, &mut sink).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(reader.failure.is_some());
        assert_eq!(reader.remaining, 7);
    }

    #[test]
    fn a_failed_walk_does_not_end_the_archive() {
        // After a failure the builder's Drop must not write an end marker.
        let mut sink = Poisonable {
            inner: Vec::new(),
            poisoned: false,
        };
        {
            let mut builder = Builder::new(&mut sink);
            let mut header = Header::new_gnu();
            header.set_size(3);
            header.set_mode(0o644);
            builder.append_data(&mut header, "a", &b"abc"[..]).unwrap();
            builder.get_mut().poisoned = true;
        }
        let written = sink.inner.len();
        assert_eq!(written, 1024, "header and one padded block, no end marker");
    }
}
