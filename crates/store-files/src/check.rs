//! [`FilesCheck`]: the format check `verify` runs on a files backup's raw stream.

use std::io::{BufReader, Read};

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;

use crate::archive::{read_archive, skip_data, EntryKind, Owners};
use crate::counts::Counts;
use crate::metadata::FilesMetadata;
use crate::stream::{feed, settle_reader, CHUNK};
use crate::FilesError;

/// Checks that a stream is a tar archive the files store would restore, without writing
/// anything: every entry parses, has a safe path and a supported type, keeps the entry order
/// the restore requires (the same rule, so the check refuses exactly the archives the restore
/// refuses), every file's data is complete, the end-of-archive marker is there, and the counts of files, directories,
/// symlinks and bytes equal the manifest's metadata. Any failure is `Corrupt`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilesCheck;

impl FilesCheck {
    /// The check.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl FormatCheck for FilesCheck {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    async fn check(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, StoreError> {
        let expected = FilesMetadata::of(manifest)?.counts();
        let (writer, reader) = tokio::io::duplex(CHUNK);
        let bridge = SyncIoBridge::new(reader);
        let task = tokio::task::spawn_blocking(move || scan(bridge));
        let (fed, outcome) = tokio::join!(feed(input, writer), task);
        let counts = settle_reader(fed, "tar reader", outcome)?;
        counts.expect(&expected)?;
        Ok(Report {
            summary: format!(
                "tar archive of {} ({} bytes) matches its manifest",
                counts.describe(),
                counts.bytes
            ),
            details: counts.to_json(),
        })
    }
}

fn scan<R: Read>(reader: R) -> Result<Counts, FilesError> {
    // Nothing is unpacked: `Owners` does not matter here.
    read_archive(
        BufReader::with_capacity(CHUNK, reader),
        Owners::Drop,
        |entry, checked| {
            if checked.kind == EntryKind::File {
                skip_data(entry, checked.name)?;
            }
            Ok(())
        },
    )
}
