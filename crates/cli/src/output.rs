//! Human output: tables, sizes, durations.

use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};

/// A table with `headers`, drawn with light borders.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_header(headers.to_vec());
    table
}

/// `12.3 MiB`.
pub fn size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

/// `1.234s`, `2m 03s`.
pub fn duration_ms(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.3}s", ms as f64 / 1000.0)
    } else {
        format!("{}m {:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// `2026-11-21 02:00:03` from an RFC 3339 time (UTC).
pub fn timestamp(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " ")
}

/// `31%` (stored / raw).
pub fn ratio(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

/// Prints a line on stdout. A closed pipe (`lifeboat list | head`) is not an error worth a
/// panic: the reader has what it wanted.
pub fn print(text: impl std::fmt::Display) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}
