//! [`FaultProxy`]: a TCP proxy in front of a real server (the S3 emulator, say) whose
//! behaviour is switched while a test runs: it passes bytes through, refuses connections,
//! resets them after some bytes, stalls them, or throttles them — the ways a storage fails
//! that a backup must survive (README, "What a backup is": a storage that fails does not lose
//! the backup in the others).
//!
//! ```
//! use lifeboat_testing::{Fault, FaultProxy};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! // An upstream that says hello to whoever connects.
//! let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let upstream_addr = upstream.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((mut peer, _)) = upstream.accept().await {
//!         let _ = peer.write_all(b"hello").await;
//!     }
//! });
//! let proxy = FaultProxy::start(upstream_addr).await?;
//! let mut client = tokio::net::TcpStream::connect(proxy.addr()).await?;
//! let mut hello = [0; 5];
//! client.read_exact(&mut hello).await?;
//! assert_eq!(&hello, b"hello");
//! assert_eq!(proxy.stats().bytes_down, 5);
//!
//! // From now on the server looks down.
//! proxy.set(Fault::Refuse);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What the proxy does to the bytes and connections passing through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything, as fast as both ends go.
    Pass,
    /// The server looks down: every new connection is reset (RST) as soon as it is accepted,
    /// and every established one at its next byte.
    Refuse,
    /// Every connection is reset (RST, both ends) once it has carried more than `after_bytes`
    /// (both directions) since this fault was set: an upload breaking off mid-stream.
    Reset {
        /// Bytes a connection may still carry.
        after_bytes: u64,
    },
    /// Connections are accepted and kept open, but nothing is forwarded either way: a server
    /// that hangs (no error, no answer, ever).
    Stall,
    /// Forward at most `bytes_per_sec` over all connections together.
    Slow {
        /// The rate, in bytes per second (at least 1).
        bytes_per_sec: u64,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Pass => write!(f, "pass"),
            Fault::Refuse => write!(f, "refuse"),
            Fault::Reset { after_bytes } => write!(f, "reset after {after_bytes} B"),
            Fault::Stall => write!(f, "stall"),
            Fault::Slow { bytes_per_sec } => write!(f, "slow {bytes_per_sec} B/s"),
        }
    }
}

/// What the proxy has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted (refused ones included).
    pub connections: u64,
    /// New connections reset on arrival ([`Fault::Refuse`]).
    pub refused: u64,
    /// Established connections reset ([`Fault::Refuse`] or [`Fault::Reset`]).
    pub resets: u64,
    /// Times a connection stopped forwarding because of [`Fault::Stall`].
    pub stalls: u64,
    /// Bytes held back by [`Fault::Slow`].
    pub throttled_bytes: u64,
    /// Bytes forwarded from the clients to the server.
    pub bytes_up: u64,
    /// Bytes forwarded from the server to the clients.
    pub bytes_down: u64,
}

impl ProxyStats {
    /// The faults injected: connections refused or reset, and stalled forwards.
    pub fn faults(&self) -> u64 {
        self.refused + self.resets + self.stalls
    }
}

/// The counters behind [`ProxyStats`].
#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    refused: AtomicU64,
    resets: AtomicU64,
    stalls: AtomicU64,
    throttled_bytes: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

/// The state every connection task shares.
struct Shared {
    /// The fault, with a generation that grows on every [`FaultProxy::set`].
    fault: watch::Sender<(Fault, u64)>,
    counters: Counters,
    /// For [`Fault::Slow`]: when the shared budget is next free.
    slow_next: Mutex<Instant>,
}

/// A TCP proxy on a free loopback port in front of `upstream`; see the [module](self).
/// Dropping it stops it and closes every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

/// The largest chunk forwarded at once.
const CHUNK: usize = 64 * 1024;

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream`, passing everything at first.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            fault: watch::Sender::new((Fault::Pass, 0)),
            counters: Counters::default(),
            slow_next: Mutex::new(Instant::now()),
        });
        let accept = tokio::spawn(accept_loop(listener, upstream, Arc::clone(&shared)));
        Ok(Self {
            addr,
            shared,
            accept,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for an endpoint in a config.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the fault; connections already open follow it from their next byte.
    pub fn set(&self, fault: Fault) {
        self.shared.fault.send_modify(|(current, generation)| {
            *current = fault;
            *generation += 1;
        });
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.shared.fault.borrow().0
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        ProxyStats {
            connections: get(&c.connections),
            refused: get(&c.refused),
            resets: get(&c.resets),
            stalls: get(&c.stalls),
            throttled_bytes: get(&c.throttled_bytes),
            bytes_up: get(&c.bytes_up),
            bytes_down: get(&c.bytes_down),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept task owns the connection tasks (a JoinSet): aborting it ends them all.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        if shared.fault.borrow().0 == Fault::Refuse {
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            continue;
        }
        connections.spawn(connection(client, upstream, Arc::clone(&shared)));
    }
}

/// Makes the coming close of `stream` a reset (RST) rather than an orderly FIN.
fn reset(stream: &TcpStream) {
    // If the option cannot be set the close is an orderly one: still a broken connection.
    let _ = stream.set_zero_linger();
}

/// How one direction of a connection ended.
enum End {
    /// Its reader reached EOF (the write side was shut down after it).
    Eof,
    /// It failed, or the proxy reset the connection: close both directions.
    Closed,
}

/// Which way a [`pump`] forwards.
#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// What the two directions of one connection share: bytes carried since the fault's
/// generation they were counted for.
struct ConnBytes {
    counted: Mutex<(u64, u64)>,
}

impl ConnBytes {
    /// Adds `n` bytes under `generation`; returns the total since that generation began.
    fn add(&self, generation: u64, n: u64) -> u64 {
        let mut counted = self.counted.lock().unwrap_or_else(PoisonError::into_inner);
        if counted.0 != generation {
            *counted = (generation, 0);
        }
        counted.1 += n;
        counted.1
    }
}

async fn connection(mut client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        reset(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // Borrowed halves: unlike owned ones, dropping them sends no FIN, so a reset stays a reset.
    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    let bytes = ConnBytes {
        counted: Mutex::new((0, 0)),
    };
    let up = pump(client_read, server_write, Direction::Up, &shared, &bytes);
    let down = pump(server_read, client_write, Direction::Down, &shared, &bytes);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        let end = tokio::select! {
            end = &mut up, if !up_done => { up_done = true; end }
            end = &mut down, if !down_done => { down_done = true; end }
        };
        if let End::Closed = end {
            // The streams close when this returns (as a reset if the pump set it).
            return;
        }
    }
}

/// Forwards `from` to `to` under the proxy's fault until EOF, an error or a reset.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    direction: Direction,
    shared: &Shared,
    bytes: &ConnBytes,
) -> End {
    let mut faults = shared.fault.subscribe();
    let mut buf = vec![0u8; CHUNK];
    loop {
        if !wait_while_stalled(&mut faults, shared).await {
            return End::Closed;
        }
        let limit = match faults.borrow().0 {
            Fault::Slow { bytes_per_sec } => slow_chunk(bytes_per_sec),
            _ => CHUNK,
        };
        let n = match from.read(&mut buf[..limit]).await {
            Ok(0) => {
                let _ = to.shutdown().await;
                return End::Eof;
            }
            Ok(n) => n,
            Err(_) => return End::Closed,
        };
        // The fault may have changed while the read waited.
        if !wait_while_stalled(&mut faults, shared).await {
            return End::Closed;
        }
        let (fault, generation) = *faults.borrow_and_update();
        match fault {
            Fault::Refuse => {
                return reset_both(&from, &to, shared);
            }
            Fault::Reset { after_bytes } => {
                if bytes.add(generation, n as u64) > after_bytes {
                    return reset_both(&from, &to, shared);
                }
            }
            Fault::Slow { bytes_per_sec } => {
                throttle(shared, n as u64, bytes_per_sec).await;
            }
            Fault::Pass | Fault::Stall => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return End::Closed;
        }
        let counter = match direction {
            Direction::Up => &shared.counters.bytes_up,
            Direction::Down => &shared.counters.bytes_down,
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Waits while the fault is [`Fault::Stall`]; `false` if the proxy is gone.
async fn wait_while_stalled(faults: &mut watch::Receiver<(Fault, u64)>, shared: &Shared) -> bool {
    if faults.borrow().0 != Fault::Stall {
        return true;
    }
    shared.counters.stalls.fetch_add(1, Ordering::Relaxed);
    faults
        .wait_for(|(fault, _)| *fault != Fault::Stall)
        .await
        .is_ok()
}

fn reset_both(from: &ReadHalf<'_>, to: &WriteHalf<'_>, shared: &Shared) -> End {
    reset(from.as_ref());
    reset(to.as_ref());
    shared.counters.resets.fetch_add(1, Ordering::Relaxed);
    End::Closed
}

/// Chunks of about a twentieth of a second at `bytes_per_sec`, so throttling is smooth.
fn slow_chunk(bytes_per_sec: u64) -> usize {
    usize::try_from(bytes_per_sec / 20).map_or(CHUNK, |n| n.clamp(1, CHUNK))
}

/// Sleeps until `n` more bytes fit in the shared budget of `bytes_per_sec`.
async fn throttle(shared: &Shared, n: u64, bytes_per_sec: u64) {
    let cost = Duration::from_secs_f64(n as f64 / bytes_per_sec.max(1) as f64);
    let until = {
        let mut next = shared
            .slow_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let start = (*next).max(Instant::now());
        *next = start + cost;
        *next
    };
    shared
        .counters
        .throttled_bytes
        .fetch_add(n, Ordering::Relaxed);
    tokio::time::sleep_until(until).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// An upstream that echoes every connection back to itself.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((peer, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = peer.into_split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Writes `data` and reads the echo back, concurrently.
    async fn round_trip(stream: TcpStream, data: &[u8]) -> io::Result<Vec<u8>> {
        let (mut read, mut write) = stream.into_split();
        let sent = data.to_vec();
        let writer = tokio::spawn(async move { write.write_all(&sent).await.map(|()| write) });
        let mut got = Vec::new();
        let mut buf = vec![0; 8192];
        let result = loop {
            if got.len() >= data.len() {
                break Ok(got);
            }
            match read.read(&mut buf).await {
                Ok(0) => break Ok(got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(err) => break Err(err),
            }
        };
        let _ = writer.await;
        result
    }

    #[tokio::test]
    async fn pass_forwards_both_ways() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let data = pattern(300_000);
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(stream, &data).await.unwrap(), data);
        let stats = proxy.stats();
        assert_eq!(stats.bytes_up, 300_000);
        assert_eq!(stats.bytes_down, 300_000);
        assert_eq!(stats.faults(), 0);
        assert_eq!(proxy.url(), format!("http://{}", proxy.addr()));
    }

    #[tokio::test]
    async fn refuse_resets_new_and_established_connections() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut established = TcpStream::connect(proxy.addr()).await.unwrap();
        established.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        established.read_exact(&mut buf).await.unwrap();

        proxy.set(Fault::Refuse);
        assert_eq!(proxy.fault(), Fault::Refuse);
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        let err = new.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        assert_eq!(proxy.stats().refused, 1);

        established.write_all(b"ping").await.unwrap();
        let err = established.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        assert_eq!(proxy.stats().resets, 1);

        // Back to normal for new connections.
        proxy.set(Fault::Pass);
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(stream, b"pong").await.unwrap(), b"pong");
    }

    #[tokio::test]
    async fn reset_breaks_a_connection_after_its_bytes() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        proxy.set(Fault::Reset {
            after_bytes: 100_000,
        });
        let data = pattern(1_000_000);
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let err = round_trip(stream, &data).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        let stats = proxy.stats();
        assert_eq!(stats.resets, 1);
        // Up and down together stayed within the allowance (plus the chunk that tipped it).
        assert!(stats.bytes_up + stats.bytes_down <= 100_000, "{stats:?}");
        assert!(stats.bytes_up > 0, "{stats:?}");

        // The allowance counts from when the fault is set: a new generation, a new allowance.
        proxy.set(Fault::Reset {
            after_bytes: 100_000,
        });
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(
            round_trip(stream, &data[..20_000]).await.unwrap(),
            &data[..20_000]
        );
    }

    #[tokio::test]
    async fn stall_forwards_nothing_until_lifted() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        proxy.set(Fault::Stall);
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        stream.write_all(b"anyone there?").await.unwrap();
        let mut buf = [0; 13];
        // The connection stays open and silent (an absence, so any wait shows it).
        let silent =
            tokio::time::timeout(Duration::from_millis(300), stream.read_exact(&mut buf)).await;
        assert!(silent.is_err(), "a stalled proxy answered: {silent:?}");
        let stats = proxy.stats();
        assert_eq!(stats.bytes_up, 0, "{stats:?}");
        assert!(stats.stalls >= 1, "{stats:?}");

        proxy.set(Fault::Pass);
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"anyone there?");
    }

    #[tokio::test]
    async fn slow_throttles_all_connections_together() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        proxy.set(Fault::Slow {
            bytes_per_sec: 64 * 1024,
        });
        let data = pattern(16 * 1024);
        let started = std::time::Instant::now();
        let (a, b) = tokio::join!(
            async {
                let stream = TcpStream::connect(proxy.addr()).await.unwrap();
                round_trip(stream, &data).await.unwrap()
            },
            async {
                let stream = TcpStream::connect(proxy.addr()).await.unwrap();
                round_trip(stream, &data).await.unwrap()
            },
        );
        assert_eq!(a, data);
        assert_eq!(b, data);
        let stats = proxy.stats();
        assert_eq!(stats.throttled_bytes, 4 * 16 * 1024, "{stats:?}");
        // 64 KiB through a 64 KiB/s budget: a lower bound, which load can only raise.
        assert!(
            started.elapsed() >= Duration::from_millis(700),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn faults_print_for_the_summaries() {
        assert_eq!(
            Fault::Reset { after_bytes: 5 }.to_string(),
            "reset after 5 B"
        );
        assert_eq!(Fault::Slow { bytes_per_sec: 9 }.to_string(), "slow 9 B/s");
        let stats = ProxyStats {
            refused: 1,
            resets: 2,
            stalls: 3,
            ..ProxyStats::default()
        };
        assert_eq!(stats.faults(), 6);
    }
}
