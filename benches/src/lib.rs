//! # lifeboat-benches
//!
//! The input of lifeboat's throughput and memory benchmark (`benches/run.sh`): a stream that is
//! half incompressible bytes and half realistic text (JSON log lines), generated fast and
//! deterministically from a seed, so zstd sees the same work in every run and on every machine.
//!
//! The two kinds alternate in [`BLOCK_BYTES`] blocks (random, text, random, text, ...), so a
//! compressor meets both all along the stream rather than in two long phases. The
//! `bench-input` binary writes such a stream to a file or stdout:
//!
//! ```text
//! cargo run --release -p lifeboat-benches --bin bench-input -- 512 input.bin
//! ```
//!
//! As a library:
//!
//! ```
//! use lifeboat_benches::InputGenerator;
//!
//! let mut out = Vec::new();
//! InputGenerator::new(42).write_mixed(&mut out, 3 * 1024 * 1024)?;
//! assert_eq!(out.len(), 3 * 1024 * 1024);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Write};

/// The size of each alternating block of random and text bytes (1 MiB).
pub const BLOCK_BYTES: usize = 1024 * 1024;

/// SplitMix64: a tiny, fast pseudo-random generator whose output zstd cannot compress.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }

    /// One element of `items`, picked at random.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let index = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items.get(index).copied().unwrap_or("")
    }
}

const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
const SERVICES: &[&str] = &[
    "orders", "payments", "auth", "catalog", "shipping", "gateway",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const ROUTES: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/orders/{id}",
    "/api/v1/customers/{id}",
    "/api/v1/products",
    "/api/v1/products/{id}/stock",
    "/api/v1/payments/{id}/capture",
    "/healthz",
    "/metrics",
];
const STATUSES: &[&str] = &[
    "200", "200", "200", "200", "201", "204", "304", "400", "404", "500",
];
const MESSAGES: &[&str] = &[
    "request completed",
    "order created",
    "payment captured",
    "cache miss, loading from database",
    "token refreshed",
    "slow query detected",
    "upstream timeout, retrying",
    "validation failed: missing field `email`",
    "rate limit exceeded for client",
    "stock reserved",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
];

/// Generates the benchmark input: random blocks, text blocks, or both alternating.
#[derive(Debug, Clone)]
pub struct InputGenerator {
    rng: SplitMix64,
    /// Milliseconds since the start of the fake log, so timestamps increase like real logs.
    clock_ms: u64,
    line: String,
}

impl InputGenerator {
    /// A generator started from `seed`: the same seed gives the same bytes.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            clock_ms: 0,
            line: String::with_capacity(512),
        }
    }

    /// Fills `buf` with incompressible bytes.
    pub fn fill_random(&mut self, buf: &mut [u8]) {
        self.rng.fill(buf);
    }

    /// Fills `buf` with JSON log lines (the last one cut at the end of `buf`).
    pub fn fill_text(&mut self, buf: &mut [u8]) {
        let mut filled = 0;
        while filled < buf.len() {
            self.next_line();
            let bytes = self.line.as_bytes();
            let n = bytes.len().min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&bytes[..n]);
            filled += n;
        }
    }

    /// Writes `total` bytes to `out`: [`BLOCK_BYTES`] blocks of random bytes and of text,
    /// alternating and starting with random, so each kind is about half of the stream.
    pub fn write_mixed(&mut self, out: &mut dyn Write, total: u64) -> io::Result<()> {
        let mut block = vec![0u8; BLOCK_BYTES];
        let mut left = total;
        let mut random = true;
        while left > 0 {
            let n = usize::try_from(left.min(BLOCK_BYTES as u64)).unwrap_or(BLOCK_BYTES);
            let buf = &mut block[..n];
            if random {
                self.fill_random(buf);
            } else {
                self.fill_text(buf);
            }
            out.write_all(buf)?;
            left -= n as u64;
            random = !random;
        }
        out.flush()
    }

    /// Puts the next log line (with its newline) in `self.line`.
    fn next_line(&mut self) {
        use std::fmt::Write as _;

        self.clock_ms += 1 + self.rng.below(40);
        let ms = self.clock_ms;
        let (secs, millis) = (ms / 1000, ms % 1000);
        let (hours, minutes, seconds) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        let day = 1 + (secs / 86_400) % 28;
        let rng = &mut self.rng;
        let route = rng
            .pick(ROUTES)
            .replace("{id}", &rng.below(1_000_000).to_string());
        let line = &mut self.line;
        line.clear();
        // Writing to a String cannot fail.
        let _ = writeln!(
            line,
            "{{\"ts\":\"2026-11-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z\",\
             \"level\":\"{}\",\"service\":\"{}\",\"request_id\":\"{:016x}\",\
             \"method\":\"{}\",\"path\":\"{route}\",\"status\":{},\"duration_ms\":{},\
             \"bytes\":{},\"client_ip\":\"10.{}.{}.{}\",\"user\":\"user{}@example.com\",\
             \"user_agent\":\"{}\",\"msg\":\"{}\"}}",
            rng.pick(LEVELS),
            rng.pick(SERVICES),
            rng.next_u64(),
            rng.pick(METHODS),
            rng.pick(STATUSES),
            rng.below(2_000),
            rng.below(100_000),
            rng.below(256),
            rng.below(256),
            rng.below(256),
            rng.below(50_000),
            rng.pick(AGENTS),
            rng.pick(MESSAGES),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_exactly_the_requested_size() {
        for total in [0, 1, 7, BLOCK_BYTES as u64, 2 * BLOCK_BYTES as u64 + 13] {
            let mut out = Vec::new();
            InputGenerator::new(1).write_mixed(&mut out, total).unwrap();
            assert_eq!(out.len() as u64, total);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        InputGenerator::new(7)
            .write_mixed(&mut a, 3 * 1024 * 1024)
            .unwrap();
        InputGenerator::new(7)
            .write_mixed(&mut b, 3 * 1024 * 1024)
            .unwrap();
        assert_eq!(a, b);
        let mut c = Vec::new();
        InputGenerator::new(8)
            .write_mixed(&mut c, 3 * 1024 * 1024)
            .unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn halves_are_random_and_text() {
        let mut out = Vec::new();
        InputGenerator::new(3)
            .write_mixed(&mut out, 2 * BLOCK_BYTES as u64)
            .unwrap();
        let (random, text) = out.split_at(BLOCK_BYTES);
        // Random bytes use the whole byte range; text is JSON lines of ASCII.
        let distinct = random
            .iter()
            .fold([false; 256], |mut seen, b| {
                seen[*b as usize] = true;
                seen
            })
            .iter()
            .filter(|s| **s)
            .count();
        assert_eq!(distinct, 256);
        assert!(text.is_ascii());
        let first = text.split(|b| *b == b'\n').next().unwrap();
        let line = std::str::from_utf8(first).unwrap();
        assert!(line.starts_with("{\"ts\":\"2026-11-01T00:00:00."), "{line}");
        assert!(line.ends_with("\"}"), "{line}");
    }
}
