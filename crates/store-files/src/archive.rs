//! Reading a tar stream entry by entry with every safety check the restore and the format check
//! share: safe paths, supported entry types, the entry order of [`EntryOrder`] (nothing stored
//! twice, nothing below a symlink or file), a real end-of-archive marker, nothing but zeros
//! after it.

use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use backup_core::StoreErrorKind;
use tar::{Archive, Entry, EntryType};

use crate::counts::Counts;
use crate::entry_order::EntryOrder;
use crate::entry_path::safe_relative_path;
use crate::FilesError;

/// What an entry is, once its type has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A regular file with `size` bytes of data.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

impl EntryKind {
    /// `file`, `directory`, `symlink`.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "directory",
            EntryKind::Symlink => "symlink",
        }
    }
}

/// Whether an extraction restores the owners stored in the archive.
///
/// Setuid, setgid and sticky bits are kept only together with the owner: a setuid file of
/// `nobody` restored by root as root's would be a setuid-root binary (README, "Files
/// restore").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owners {
    /// Everything is owned by the restoring user; modes keep their permission bits only
    /// (`mode & 0o777`).
    Drop,
    /// The numeric uid and gid of each entry are restored (which needs root), and modes keep
    /// all their bits (`mode & 0o7777`).
    Restore,
}

impl Owners {
    /// The mode bits an entry keeps.
    pub(crate) fn mode_mask(self) -> u32 {
        match self {
            Owners::Drop => 0o777,
            Owners::Restore => 0o7777,
        }
    }
}

/// One checked entry, handed to the visitor of [`read_archive`].
pub(crate) struct Checked<'a> {
    /// Its safe path relative to the extraction directory (never empty).
    pub(crate) rel: &'a Path,
    /// What it is.
    pub(crate) kind: EntryKind,
    /// Its path as stored, for error messages.
    pub(crate) name: &'a str,
}

/// A reader that remembers whether it has reached EOF, so a parser that stops at EOF can be
/// told apart from one that stopped at the archive's end marker.
pub(crate) struct Tracked<R> {
    inner: R,
    eof: Rc<Cell<bool>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof.set(true);
        }
        Ok(n)
    }
}

/// Reads the whole tar stream from `reader`, to its EOF, calling `visit` on every entry after
/// it passed the checks, and returns the counts.
///
/// `owners` only matters to a visitor that unpacks entries (`Entry::unpack_in`).
///
/// Errors, all naming the entry when there is one: an unsafe path ([`FilesError::UnsafeEntry`]:
/// absolute, `..`, below a symlink stored earlier, or the path of one), an entry breaking the
/// order of [`EntryOrder`] ([`FilesError::ConflictingEntry`]), an entry type the files store
/// never writes (devices, fifos, hard links: [`FilesError::UnsupportedEntry`]), a stream that
/// ends before the end-of-archive marker ([`FilesError::Truncated`]), and non-zero bytes after
/// it ([`FilesError::TrailingData`]).
pub(crate) fn read_archive<R, F>(
    reader: R,
    owners: Owners,
    mut visit: F,
) -> Result<Counts, FilesError>
where
    R: Read,
    F: FnMut(&mut Entry<'_, Tracked<R>>, Checked<'_>) -> Result<(), FilesError>,
{
    let eof = Rc::new(Cell::new(false));
    let mut archive = Archive::new(Tracked {
        inner: reader,
        eof: Rc::clone(&eof),
    });
    // Without owners `tar` masks modes with 0o777, dropping setuid, setgid and sticky bits.
    archive.set_preserve_permissions(owners == Owners::Restore);
    archive.set_preserve_mtime(true);
    archive.set_preserve_ownerships(owners == Owners::Restore);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    archive.set_ignore_zeros(false);

    let mut counts = Counts::default();
    let mut order = EntryOrder::default();
    let entries = archive.entries().map_err(|source| FilesError::Tar {
        step: "opening the archive",
        entry: None,
        source,
    })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| {
            if eof.get() {
                FilesError::Truncated { entry: None }
            } else {
                FilesError::Tar {
                    step: "reading an entry header",
                    entry: None,
                    source,
                }
            }
        })?;
        let raw = entry.path_bytes().into_owned();
        // For messages only: the stored path, escaped and capped (it may hold anything).
        let name = lifeboat_edge::shown::excerpt(&raw);
        let entry_type = entry.header().entry_type();
        if entry_type.is_pax_global_extensions() {
            continue;
        }
        let kind = classify(entry_type, &raw).ok_or_else(|| FilesError::UnsupportedEntry {
            entry: name.clone(),
            kind: describe_type(entry_type),
        })?;
        let rel = safe_relative_path(&raw).map_err(|reason| FilesError::UnsafeEntry {
            entry: name.clone(),
            reason,
        })?;
        if rel.as_os_str().is_empty() {
            if kind == EntryKind::Dir {
                // `./`: the extraction directory itself, which the restore creates.
                continue;
            }
            return Err(FilesError::UnsafeEntry {
                entry: name,
                reason: "the path names no file".into(),
            });
        }
        if let Err(refusal) = order.admit(&rel, kind) {
            return Err(if refusal.is_escape() {
                FilesError::UnsafeEntry {
                    entry: name,
                    reason: refusal.reason(),
                }
            } else {
                FilesError::ConflictingEntry {
                    entry: name,
                    reason: refusal.reason(),
                }
            });
        }
        if kind == EntryKind::Symlink {
            let has_target = entry
                .link_name_bytes()
                .is_some_and(|target| !target.is_empty());
            if !has_target {
                return Err(FilesError::Tar {
                    step: "reading a symlink",
                    entry: Some(name),
                    source: io::Error::new(io::ErrorKind::InvalidData, "the link has no target"),
                });
            }
        }
        let size = entry.size();
        visit(
            &mut entry,
            Checked {
                rel: &rel,
                kind,
                name: &name,
            },
        )
        .map_err(|err| {
            // A failed write of a file's data is the stream ending early, if it did.
            if eof.get() && err.kind() == StoreErrorKind::Failed {
                FilesError::Truncated {
                    entry: Some(name.clone()),
                }
            } else {
                err
            }
        })?;
        match kind {
            EntryKind::File => {
                counts.files += 1;
                counts.bytes += size;
            }
            EntryKind::Dir => counts.dirs += 1,
            EntryKind::Symlink => counts.symlinks += 1,
        }
    }
    if eof.get() {
        // The parser treats EOF at an entry boundary as the end: without the end-of-archive
        // marker the stream was cut short.
        return Err(FilesError::Truncated { entry: None });
    }
    drain_zeros(archive.into_inner())?;
    Ok(counts)
}

fn classify(entry_type: EntryType, raw_path: &[u8]) -> Option<EntryKind> {
    match entry_type {
        EntryType::Directory => Some(EntryKind::Dir),
        EntryType::Symlink => Some(EntryKind::Symlink),
        // Old (pre-POSIX) archives mark directories with a trailing slash only.
        EntryType::Regular | EntryType::Continuous if raw_path.ends_with(b"/") => {
            Some(EntryKind::Dir)
        }
        EntryType::Regular | EntryType::Continuous => Some(EntryKind::File),
        _ => None,
    }
}

/// What an entry type the store never writes is, for the error message.
fn describe_type(entry_type: EntryType) -> String {
    match entry_type {
        EntryType::Char => "a character device".into(),
        EntryType::Block => "a block device".into(),
        EntryType::Fifo => "a fifo".into(),
        EntryType::Link => "a hard link".into(),
        EntryType::GNUSparse => "a sparse file".into(),
        other => format!("of tar type {:?}", other.as_byte() as char),
    }
}

/// Reads to EOF past the end marker: only zero padding may follow.
fn drain_zeros<R: Read>(mut reader: R) -> Result<(), FilesError> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|source| FilesError::Tar {
            step: "reading past the end of the archive",
            entry: None,
            source,
        })?;
        if n == 0 {
            return Ok(());
        }
        if buf[..n].iter().any(|byte| *byte != 0) {
            return Err(FilesError::TrailingData);
        }
    }
}

/// Reads an entry's data to its end, failing if the stream ends before the header's size.
pub(crate) fn skip_data<R: Read>(entry: &mut Entry<'_, R>, name: &str) -> Result<u64, FilesError> {
    let expected = entry.size();
    let read = io::copy(entry, &mut io::sink()).map_err(|source| FilesError::Tar {
        step: "reading entry data",
        entry: Some(name.to_string()),
        source,
    })?;
    if read == expected {
        Ok(read)
    } else {
        Err(FilesError::Truncated {
            entry: Some(name.to_string()),
        })
    }
}
