//! Benchmark of RESP2 reply decoding on the raw connections' read path, run in release mode:
//!
//! ```text
//! cargo run --release -p store-redis --example resp_decode [-- RUNS]
//! ```
//!
//! Each workload is a realistic stream of replies, delivered in 64 KiB reads as a socket
//! would hand them over, and decoded the way `raw.rs` decodes them (a partial reply waits
//! for more bytes): the replies to pipelined `RESTORE` batches (`+OK`), the `DUMP` + `PTTL`
//! replies of a logical backup at several value sizes, and `SCAN` pages of 1000 keys. It
//! prints the median time of each decoder per workload and its ratio to the crate's codec.
//!
//! The decoders: the crate's own (`src/resp.rs`, driven as `raw.rs` drives it), and
//! redis-protocol's RESP2 decoder (the crate fred uses) in its two forms: zero-copy
//! (`decode_bytes_mut`, replies split off a `BytesMut` as `Bytes`) and copying (`decode`,
//! `OwnedFrame`s). redis-protocol is faster only for values of 4 KiB and more (zero-copy);
//! on the replies that dominate a restore or a logical backup (`+OK`, `:<ttl>`, values of
//! tens to hundreds of bytes) it is about two to three times slower, which is why the crate
//! keeps its own codec.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use redis_protocol::resp2::decode::{decode, decode_bytes_mut};
use redis_protocol::resp2::types::{BytesFrame, OwnedFrame};

/// The crate's codec.
#[allow(dead_code)]
#[path = "../src/resp.rs"]
mod ours;

/// What a socket read returns at most.
const READ: usize = 64 * 1024;

fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Pseudo-random bytes (a DUMP payload is binary).
fn payload(len: usize, seed: &mut u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

/// A workload: its name, the stream, and the number of replies in it.
struct Workload {
    name: String,
    stream: Vec<u8>,
    replies: usize,
}

fn workloads() -> Vec<Workload> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut out = Vec::new();
    // 400 batches of 512 RESTORE replies.
    let restore: Vec<u8> = b"+OK\r\n".repeat(512 * 400);
    out.push(Workload {
        name: "RESTORE replies (+OK) x 204800".into(),
        stream: restore,
        replies: 512 * 400,
    });
    // DUMP + PTTL pairs; about 64 MiB of payload per workload.
    for size in [40usize, 300, 4 << 10, 64 << 10, 1 << 20] {
        let pairs = ((64usize << 20) / size).min(200_000);
        let mut stream = Vec::new();
        for i in 0..pairs {
            bulk(&mut stream, &payload(size, &mut seed));
            if i % 3 == 0 {
                stream.extend_from_slice(b":86399123\r\n");
            } else {
                stream.extend_from_slice(b":-1\r\n");
            }
        }
        out.push(Workload {
            name: format!("DUMP {size} B + PTTL x {pairs}"),
            stream,
            replies: pairs * 2,
        });
    }
    // SCAN pages: a cursor and 1000 keys of 10-40 bytes.
    let mut stream = Vec::new();
    let pages = 200;
    for p in 0..pages {
        stream.extend_from_slice(b"*2\r\n");
        bulk(&mut stream, format!("{}", 1000 + p).as_bytes());
        stream.extend_from_slice(b"*1000\r\n");
        for k in 0..1000 {
            bulk(
                &mut stream,
                format!("key:{p}:{k}:{}", "x".repeat(k % 30)).as_bytes(),
            );
        }
    }
    out.push(Workload {
        name: format!("SCAN pages of 1000 keys x {pages}"),
        stream,
        replies: pages,
    });
    out
}

/// The crate's decoder, as `raw.rs` drives it: a `Vec` buffer, compacted before each read,
/// reading at least what the partial reply is known to need.
fn run_ours(stream: &[u8]) -> (usize, u64) {
    let mut rbuf: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut start = 0;
    let mut fed = 0;
    let (mut replies, mut bytes) = (0usize, 0u64);
    loop {
        let mut need = 0;
        match ours::parse(&rbuf[start..], &mut need).unwrap() {
            Some((reply, n)) => {
                start += n;
                if start == rbuf.len() {
                    rbuf.clear();
                    start = 0;
                }
                replies += 1;
                bytes += touch_ours(&reply);
                continue;
            }
            None if fed == stream.len() => break,
            None => {}
        }
        if start > 0 {
            rbuf.drain(..start);
            start = 0;
        }
        let want = need.saturating_sub(rbuf.len()).clamp(64 * 1024, 4 << 20);
        rbuf.reserve(want);
        let n = (stream.len() - fed).min(READ).min(want);
        rbuf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
    }
    (replies, bytes)
}

fn touch_ours(r: &ours::Reply) -> u64 {
    match r {
        ours::Reply::Bulk(Some(b)) | ours::Reply::Simple(b) => b.len() as u64 + u64::from(b[0]),
        ours::Reply::Int(n) => *n as u64 & 1,
        ours::Reply::Array(Some(items)) => items.iter().map(touch_ours).sum(),
        _ => 0,
    }
}

/// redis-protocol, zero-copy: a `BytesMut` buffer, replies split off it as `Bytes`.
fn run_protocol(stream: &[u8]) -> (usize, u64) {
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let mut fed = 0;
    let (mut replies, mut bytes) = (0usize, 0u64);
    loop {
        match decode_bytes_mut(&mut buf).unwrap() {
            Some((frame, _, _)) => {
                replies += 1;
                bytes += touch_frame(&frame);
                continue;
            }
            None if fed == stream.len() => break,
            None => {}
        }
        buf.reserve(READ);
        let n = (stream.len() - fed).min(READ);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
    }
    (replies, bytes)
}

fn touch_frame(f: &BytesFrame) -> u64 {
    match f {
        BytesFrame::BulkString(b) | BytesFrame::SimpleString(b) => b.len() as u64 + u64::from(b[0]),
        BytesFrame::Integer(n) => *n as u64 & 1,
        BytesFrame::Array(items) => items.iter().map(touch_frame).sum(),
        _ => 0,
    }
}

/// redis-protocol, copying: each reply decoded into an `OwnedFrame` (its strings copied out,
/// as the crate's codec does) from a `Vec` buffer, compacted before each read.
fn run_owned(stream: &[u8]) -> (usize, u64) {
    let mut rbuf: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut start = 0;
    let mut fed = 0;
    let (mut replies, mut bytes) = (0usize, 0u64);
    loop {
        match decode(&rbuf[start..]).unwrap() {
            Some((frame, n)) => {
                start += n;
                replies += 1;
                bytes += touch_owned(&frame);
                continue;
            }
            None if fed == stream.len() => break,
            None => {}
        }
        rbuf.drain(..start);
        start = 0;
        let n = (stream.len() - fed).min(READ);
        rbuf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
    }
    (replies, bytes)
}

fn touch_owned(f: &OwnedFrame) -> u64 {
    match f {
        OwnedFrame::BulkString(b) | OwnedFrame::SimpleString(b) => b.len() as u64 + u64::from(b[0]),
        OwnedFrame::Integer(n) => *n as u64 & 1,
        OwnedFrame::Array(items) => items.iter().map(touch_owned).sum(),
        _ => 0,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("RUNS is a number"))
        .unwrap_or(15);
    println!("RESP2 reply decoding, medians of {runs} runs (alternating), 64 KiB reads\n");
    println!(
        "{:<32} {:>6} {:>9} {:>16} {:>16}",
        "workload", "MiB", "crate ms", "rp zero-copy ms", "rp owned ms"
    );
    for w in workloads() {
        let expected = run_ours(&w.stream);
        assert_eq!(expected.0, w.replies, "{}", w.name);
        assert_eq!(run_protocol(&w.stream), expected, "{}", w.name);
        assert_eq!(run_owned(&w.stream), expected, "{}", w.name);
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            std::hint::black_box(run_ours(std::hint::black_box(&w.stream)));
            a.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(run_protocol(std::hint::black_box(&w.stream)));
            b.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(run_owned(std::hint::black_box(&w.stream)));
            c.push(t.elapsed());
        }
        let (a, b, c) = (median(a), median(b), median(c));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<32} {:>6.1} {:>9.2} {:>9.2} ({:.2}x) {:>9.2} ({:.2}x)",
            w.name,
            w.stream.len() as f64 / f64::from(1 << 20),
            ms(a),
            ms(b),
            ms(b) / ms(a),
            ms(c),
            ms(c) / ms(a)
        );
    }
    println!("\n(ratio) = redis-protocol / the crate's codec: above 1, redis-protocol is slower");
}
