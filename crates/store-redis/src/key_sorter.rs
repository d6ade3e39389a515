//! [`KeySorter`]: the keys `SCAN` returned for one db, each once, in bounded memory whatever
//! the number of keys (ARCHITECTURE.md, invariant 6).
//!
//! `SCAN` may return a key more than once (when the server resizes its table during the
//! scan), and a dump must hold each key once: an RDB file with a key twice makes
//! `redis-server` refuse to start. Telling a repeat from a new key needs every key seen so far;
//! kept in memory that grows with the key count, so the keys are gathered in a buffer of
//! [`MEMORY`] bytes, and each full buffer is sorted and written as a *run* to a temporary
//! file; the runs are then merged, dropping repeats. That file is why a logical backup writes
//! to local disk at all (key names only, never values): it is created in the temp folder
//! (`TMPDIR`) as `lifeboat-redis-keys-XXXXXX`, mode 0600, and unlinked at once, so it is gone
//! when the backup ends, fails or is killed. A db whose keys fit in the buffer needs no file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// The prefix of the temporary file's name (it has a name only between its creation and its
/// unlinking, right after).
pub(crate) const SPILL_PREFIX: &str = "lifeboat-redis-keys-";

/// Bytes of keys (and their 8-byte index entries) held in memory before a run is written.
pub(crate) const MEMORY: usize = 8 << 20;

/// Runs merged at once; reaching it merges them into one, so a merge reads at most this many
/// runs, each through a [`READ_BUFFER`].
const FAN_IN: usize = 16;
const READ_BUFFER: usize = 64 * 1024;

/// What failed with the temporary file.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step} the temporary key file in {}: {source}", dir.display())]
pub struct SpillError {
    /// `create`, `write` or `read`.
    step: &'static str,
    /// The folder it is in.
    dir: PathBuf,
    /// The I/O error.
    #[source]
    source: io::Error,
}

/// Gathers keys; [`KeySorter::finish`] gives them back sorted, each once.
pub(crate) struct KeySorter {
    memory: usize,
    dir: PathBuf,
    arena: Vec<u8>,
    spans: Vec<(u32, u32)>,
    spill: Option<Spill>,
    duplicates: u64,
}

/// The temporary file and the sorted runs in it.
struct Spill {
    file: Arc<File>,
    len: u64,
    runs: Vec<Run>,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    end: u64,
}

impl KeySorter {
    /// A sorter holding up to `memory` bytes before it writes a run into a file in `dir`.
    pub(crate) fn new(memory: usize, dir: PathBuf) -> Self {
        Self {
            memory,
            dir,
            arena: Vec::new(),
            spans: Vec::new(),
            spill: None,
            duplicates: 0,
        }
    }

    /// Adds a key; `true` when the buffer is full and [`KeySorter::spill`] must run before
    /// the next key.
    pub(crate) fn push(&mut self, key: &[u8]) -> bool {
        // Offsets fit in u32: the buffer is written out once it holds `memory` bytes, and a
        // key is at most 512 MiB.
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(key);
        self.spans.push((start, key.len() as u32));
        self.arena.len() + 8 * self.spans.len() >= self.memory
    }

    /// Writes the buffer as a sorted run (merging the runs into one when there are
    /// [`FAN_IN`]).
    pub(crate) fn spill(&mut self) -> Result<(), SpillError> {
        self.sort_buffer();
        if self.spans.is_empty() {
            return Ok(());
        }
        if self.spill.is_none() {
            self.spill = Some(Spill {
                file: Arc::new(temp_file(&self.dir)?),
                len: 0,
                runs: Vec::new(),
            });
        }
        if let Some(spill) = self.spill.as_mut() {
            let start = spill.len;
            let arena = &self.arena;
            let keys = self.spans.iter().map(|&(s, n)| {
                let s = s as usize;
                &arena[s..s + n as usize]
            });
            let dir = &self.dir;
            spill.len += write_run(&spill.file, keys).map_err(|source| SpillError {
                step: "write",
                dir: dir.clone(),
                source,
            })?;
            spill.runs.push(Run {
                start,
                end: spill.len,
            });
        }
        self.arena.clear();
        self.spans.clear();
        if self.spill.as_ref().is_some_and(|s| s.runs.len() >= FAN_IN) {
            self.compact()?;
        }
        Ok(())
    }

    /// The keys, sorted and each once.
    pub(crate) fn finish(mut self) -> Result<SortedKeys, SpillError> {
        if self.spill.is_none() {
            self.sort_buffer();
            return Ok(SortedKeys {
                source: Source::Memory {
                    arena: self.arena,
                    spans: self.spans.into_iter(),
                },
                duplicates: self.duplicates,
            });
        }
        self.spill()?;
        let dir = self.dir.clone();
        match self.spill.take() {
            Some(spill) => Ok(SortedKeys {
                source: Source::Merge(Merger::new(spill.file, &spill.runs, dir)?),
                duplicates: self.duplicates,
            }),
            None => Ok(SortedKeys::default()),
        }
    }

    /// Sorts the buffer's index and drops repeated keys from it.
    fn sort_buffer(&mut self) {
        let arena = &self.arena;
        let key = |&(s, n): &(u32, u32)| &arena[s as usize..(s + n) as usize];
        self.spans.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        let before = self.spans.len();
        self.spans.dedup_by(|a, b| key(a) == key(b));
        self.duplicates += (before - self.spans.len()) as u64;
    }

    /// Merges every run into one, in a new file (the old one goes when its last reader does).
    fn compact(&mut self) -> Result<(), SpillError> {
        let Some(spill) = self.spill.take() else {
            return Ok(());
        };
        let mut merger = Merger::new(spill.file, &spill.runs, self.dir.clone())?;
        let file = temp_file(&self.dir)?;
        let mut out = BufWriter::with_capacity(READ_BUFFER, &file);
        let mut len = 0u64;
        while let Some(key) = merger.next()? {
            len += write_key(&mut out, &key).map_err(|e| self.error("write", e))?;
        }
        out.flush().map_err(|e| self.error("write", e))?;
        drop(out);
        self.duplicates += merger.duplicates;
        self.spill = Some(Spill {
            file: Arc::new(file),
            len,
            runs: vec![Run { start: 0, end: len }],
        });
        Ok(())
    }

    fn error(&self, step: &'static str, source: io::Error) -> SpillError {
        SpillError {
            step,
            dir: self.dir.clone(),
            source,
        }
    }
}

/// Creates the temporary file and unlinks it at once (see the module docs).
fn temp_file(dir: &std::path::Path) -> Result<File, SpillError> {
    tempfile::Builder::new()
        .prefix(SPILL_PREFIX)
        .tempfile_in(dir)
        .map(tempfile::NamedTempFile::into_file)
        .map_err(|source| SpillError {
            step: "create",
            dir: dir.to_path_buf(),
            source,
        })
}

/// Appends `keys` to `file` as a run (`u32 LE length, bytes` each); returns the bytes written.
fn write_run<'a>(file: &File, keys: impl Iterator<Item = &'a [u8]>) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(READ_BUFFER, file);
    let mut len = 0;
    for key in keys {
        len += write_key(&mut out, key)?;
    }
    out.flush()?;
    Ok(len)
}

fn write_key(out: &mut impl Write, key: &[u8]) -> io::Result<u64> {
    out.write_all(&(key.len() as u32).to_le_bytes())?;
    out.write_all(key)?;
    Ok(4 + key.len() as u64)
}

/// The keys of a [`KeySorter`], sorted and each once.
pub(crate) struct SortedKeys {
    source: Source,
    duplicates: u64,
}

impl Default for SortedKeys {
    fn default() -> Self {
        Self {
            source: Source::Memory {
                arena: Vec::new(),
                spans: Vec::new().into_iter(),
            },
            duplicates: 0,
        }
    }
}

enum Source {
    Memory {
        arena: Vec<u8>,
        spans: std::vec::IntoIter<(u32, u32)>,
    },
    Merge(Merger),
}

impl SortedKeys {
    /// The next key, `None` after the last.
    pub(crate) fn next(&mut self) -> Result<Option<Vec<u8>>, SpillError> {
        match &mut self.source {
            Source::Memory { arena, spans } => Ok(spans.next().map(|(s, n)| {
                let s = s as usize;
                arena[s..s + n as usize].to_vec()
            })),
            Source::Merge(merger) => merger.next(),
        }
    }

    /// Up to `n` next keys (none after the last).
    pub(crate) fn batch(&mut self, n: usize) -> Result<Vec<Vec<u8>>, SpillError> {
        let mut keys = Vec::with_capacity(n.min(4096));
        while keys.len() < n {
            match self.next()? {
                Some(key) => keys.push(key),
                None => break,
            }
        }
        Ok(keys)
    }

    /// How many repeats were dropped (all of them once every key has been read).
    pub(crate) fn duplicates(&self) -> u64 {
        match &self.source {
            Source::Memory { .. } => self.duplicates,
            Source::Merge(merger) => self.duplicates + merger.duplicates,
        }
    }
}

/// A k-way merge of runs that drops repeated keys.
struct Merger {
    readers: Vec<BufReader<RunReader>>,
    heads: BinaryHeap<Reverse<(Vec<u8>, usize)>>,
    last: Option<Vec<u8>>,
    duplicates: u64,
    dir: PathBuf,
}

impl Merger {
    fn new(file: Arc<File>, runs: &[Run], dir: PathBuf) -> Result<Self, SpillError> {
        let mut merger = Self {
            readers: runs
                .iter()
                .map(|run| {
                    BufReader::with_capacity(
                        READ_BUFFER,
                        RunReader {
                            file: Arc::clone(&file),
                            pos: run.start,
                            end: run.end,
                        },
                    )
                })
                .collect(),
            heads: BinaryHeap::new(),
            last: None,
            duplicates: 0,
            dir,
        };
        for i in 0..merger.readers.len() {
            merger.refill(i)?;
        }
        Ok(merger)
    }

    fn refill(&mut self, i: usize) -> Result<(), SpillError> {
        let read = read_key(&mut self.readers[i]).map_err(|source| SpillError {
            step: "read",
            dir: self.dir.clone(),
            source,
        })?;
        if let Some(key) = read {
            self.heads.push(Reverse((key, i)));
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Option<Vec<u8>>, SpillError> {
        while let Some(Reverse((key, i))) = self.heads.pop() {
            self.refill(i)?;
            if self.last.as_ref() == Some(&key) {
                self.duplicates += 1;
                continue;
            }
            self.last = Some(key.clone());
            return Ok(Some(key));
        }
        Ok(None)
    }
}

/// One key of a run, `None` at the run's end.
fn read_key(reader: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut key = vec![0u8; u32::from_le_bytes(len) as usize];
    reader.read_exact(&mut key)?;
    Ok(Some(key))
}

/// Reads one run of the shared file with positioned reads (readers never move a cursor).
struct RunReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for RunReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.pos).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the temporary key file is shorter than written",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn sorted(keys: &[Vec<u8>], memory: usize, dir: &std::path::Path) -> (Vec<Vec<u8>>, u64) {
        let mut sorter = KeySorter::new(memory, dir.to_path_buf());
        for key in keys {
            if sorter.push(key) {
                sorter.spill().unwrap();
            }
        }
        let mut out = sorter.finish().unwrap();
        let mut all = Vec::new();
        loop {
            let batch = out.batch(7).unwrap();
            if batch.is_empty() {
                break;
            }
            all.extend(batch);
        }
        (all, out.duplicates())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the memory (runs of a few keys, compactions, no file at all), the output
        /// is the set of keys in order, and the repeats dropped are counted exactly.
        #[test]
        fn gives_every_key_once_in_order(
            keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..400),
            memory in prop::sample::select(vec![1usize, 16, 64, 300, 1 << 20]),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (out, duplicates) = sorted(&keys, memory, dir.path());
            let expected: Vec<Vec<u8>> = keys.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
            prop_assert_eq!(&out, &expected);
            prop_assert_eq!(duplicates, (keys.len() - expected.len()) as u64);
            // The file is unlinked from the start: nothing is left in the folder.
            prop_assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn spills_and_compacts_in_bounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        // 20,000 keys in runs of ~100: many compactions; every key twice.
        let keys: Vec<Vec<u8>> = (0..40_000u32)
            .map(|i| format!("key:{}", (i * 7919) % 20_000).into_bytes())
            .collect();
        let mut sorter = KeySorter::new(2048, dir.path().to_path_buf());
        for key in &keys {
            if sorter.push(key) {
                sorter.spill().unwrap();
                assert!(sorter.spill.as_ref().is_some_and(|s| s.runs.len() < FAN_IN));
            }
            assert!(sorter.arena.len() + 8 * sorter.spans.len() < 2048 + 64);
        }
        let (out, duplicates) = sorted(&keys, 2048, dir.path());
        assert_eq!(out.len(), 20_000);
        assert_eq!(duplicates, 20_000);
        assert!(out.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn an_unusable_folder_is_an_error_naming_it() {
        let mut sorter = KeySorter::new(1, PathBuf::from("/nonexistent/lifeboat-test"));
        assert!(sorter.push(b"a"));
        let err = sorter.spill().unwrap_err().to_string();
        assert!(
            err.starts_with("cannot create the temporary key file in /nonexistent"),
            "{err}"
        );
    }
}
