//! [`BlackHole`]: a TCP endpoint that accepts connections and never answers — a storage or
//! server that hangs (a frozen proxy, a dead NFS server, a half-open connection), for tests
//! that prove every wait on a peer has a timeout.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A loopback listener that accepts every connection and then neither reads nor writes: the
/// peer's requests go unanswered until it gives up. Connections stay open until the black hole
/// is dropped.
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
///
/// let hole = lifeboat_testing::BlackHole::start();
/// let mut stream = std::net::TcpStream::connect(hole.addr()).unwrap();
/// stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
/// stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
/// assert!(stream.read(&mut [0; 1]).is_err()); // no answer
/// ```
pub struct BlackHole {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl BlackHole {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|err| panic!("no loopback port for a black hole: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("black hole address: {err}"));
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, accepted) = (Arc::clone(&stop), Arc::clone(&accepted));
            std::thread::spawn(move || {
                // Held, never read: the peer's data fills the socket buffers and stays there.
                let mut held: Vec<TcpStream> = Vec::new();
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        accepted.fetch_add(1, Ordering::SeqCst);
                        held.push(stream);
                    }
                }
            })
        };
        Self {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its address as an `http://` URL, e.g. a storage's `endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections it has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag; it then drops every held connection.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
