//! Entry points for the fuzz targets in `fuzz/` at the repository root (ARCHITECTURE.md, "Fuzz
//! a parser"), shared with the replay of their inputs in `tests/fuzz_inputs.rs`: each runs the
//! code that reads a stored dump exactly as `verify` and a restore do. Hidden from the docs and
//! not a stable API.

use crate::check::count_dump;
use crate::definitions::MAX_OBJECT_BYTES;
use crate::reader::DumpReader;
use crate::scan::Scanner;
use crate::{DumpFormat, RabbitmqError, ScanError};

/// Reads `data` as a dump in `format` twice: counted as `verify` does, and read as a restore
/// does (the whole definitions document, then every message and the trailer).
pub async fn dump(data: &[u8], format: DumpFormat) -> Result<(), RabbitmqError> {
    let mut input = data;
    let counted = count_dump(&mut input, format).await.map(|_| ());
    let mut input = data;
    let mut reader = DumpReader::new(&mut input, format);
    reader.read_all_definitions().await?;
    while reader.next_message().await?.is_some() {}
    reader.finish().await?;
    counted
}

/// Scans `data` as a definitions document fed in chunks of `chunk` bytes (at least 1), and
/// returns how many events it produced.
pub fn scan(data: &[u8], chunk: usize) -> Result<usize, ScanError> {
    let mut scanner = Scanner::new(MAX_OBJECT_BYTES);
    let mut events = Vec::new();
    for part in data.chunks(chunk.max(1)) {
        scanner.feed(part, &mut events)?;
    }
    scanner.finish(&mut events)?;
    Ok(events.len())
}

/// The `rabbitmq_definitions` target: the first byte of `data` picks the scanner's chunk size
/// (1 to 256 bytes), the rest is a definitions document, [`scan`]ned in those chunks and read
/// as a `rabbitmq-definitions` [`dump`]. Returns the first error (fine for arbitrary input);
/// an empty `data` is nothing to read.
pub async fn definitions(data: &[u8]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some((&chunk, doc)) = data.split_first() else {
        return Ok(());
    };
    let scanned = scan(doc, usize::from(chunk) + 1);
    dump(doc, DumpFormat::Definitions).await?;
    scanned?;
    Ok(())
}

/// The `rabbitmq_messages` target: `data` read as a `rabbitmq-definitions+messages` [`dump`].
pub async fn messages(data: &[u8]) -> Result<(), RabbitmqError> {
    dump(data, DumpFormat::Messages).await
}
