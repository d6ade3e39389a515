//! A logical backup's memory does not grow with the key count (ARCHITECTURE.md, invariant 6):
//! 2,000,000 keys are backed up with a heap that stays far below what one 8-byte hash per key
//! would take, and the manifest counts every key exactly once.
//!
//! The only test of its binary, so the peak RSS it measures is the backup's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};

use backup_core::Source;
use common::TestRedis;
use store_redis::{Mode, RedisOptions, RedisSource};
use tokio::io::AsyncWrite;

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Discards what it is given, counting the bytes.
struct Discard(u64);

impl AsyncWrite for Discard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0 += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

const KEYS: u64 = 2_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_million_keys_back_up_in_bounded_memory_and_are_counted_once() {
    let Some(src) = TestRedis::start(&["--enable-debug-command", "yes"]).await else {
        return;
    };
    src.cli(&["DEBUG", "POPULATE", &KEYS.to_string(), "key", "8"]);
    assert_eq!(src.cli(&["DBSIZE"]), KEYS.to_string());

    let mut options = RedisOptions::from_url(src.url());
    options.mode = Mode::Logical;
    let source = RedisSource::new(options).unwrap();
    let mut out = Discard(0);
    // Resets the peak RSS (`VmHWM`) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kib("VmRSS");
    let metadata = source.backup(&mut out).await.unwrap().metadata;
    let growth = status_kib("VmHWM").saturating_sub(before);
    eprintln!("peak RSS growth during the backup of {KEYS} keys: {growth} KiB");

    assert_eq!(metadata["keys"], KEYS);
    assert_eq!(metadata["keys_per_db"]["0"], KEYS);
    assert_eq!(metadata["duplicate_scan_keys"], 0);
    assert!(out.0 > KEYS * 20, "{} bytes written", out.0);
    // A set of one 8-byte hash per key alone takes 36 MiB at this count (and twice that
    // while it grows); the key sorter holds at most 8 MiB of keys.
    assert!(
        growth < 28 << 10,
        "peak RSS grew by {growth} KiB during the backup"
    );
}
