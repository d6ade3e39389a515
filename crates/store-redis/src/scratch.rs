//! [`ScratchServer`]: a throw-away `redis-server` on a free loopback port, without
//! persistence, killed (and its folder removed) on drop. Restore drills start one; so do the
//! tests of every crate, through `lifeboat_testing::redis` (cargo feature `testing`).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a scratch server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScratchError {
    /// `redis-server` is not installed.
    #[error("`redis-server` is not on PATH: a restore drill needs it to start a scratch server")]
    NotFound,
    /// Its temporary folder or log file could not be created.
    #[error("cannot create the scratch server's folder: {0}")]
    Dir(#[source] io::Error),
    /// No loopback port was free.
    #[error("no free loopback port: {0}")]
    Port(#[source] io::Error),
    /// The process could not be started.
    #[error("starting redis-server: {0}")]
    Spawn(#[source] io::Error),
    /// The process exited before it answered (a bad argument, a feature it was built
    /// without, ...).
    #[error("the scratch redis-server exited ({status}): {output}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// The end of what it printed.
        output: String,
    },
    /// It did not answer `PING` in time.
    #[error("the scratch redis-server did not answer within {}s", .0.as_secs())]
    Timeout(Duration),
}

/// How to start a [`ScratchServer`].
#[derive(Debug, Clone)]
pub struct ScratchOptions {
    databases: u32,
    args: Vec<OsString>,
    startup_timeout: Duration,
}

impl Default for ScratchOptions {
    fn default() -> Self {
        Self {
            databases: 16,
            args: Vec::new(),
            startup_timeout: Duration::from_secs(10),
        }
    }
}

// Parts only the test harness uses (feature `testing`).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
impl ScratchOptions {
    /// Redis's defaults: 16 dbs, no extra arguments, 10 s to start.
    pub fn new() -> Self {
        Self::default()
    }

    /// `--databases n` (at least Redis's default 16).
    pub fn databases(mut self, n: u32) -> Self {
        self.databases = n.max(16);
        self
    }

    /// Extra arguments after the defaults (a later one wins in redis-server): `--tls-port`,
    /// `--requirepass`, `--repl-diskless-sync yes`, ...
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// How long the server may take to answer `PING` (default 10 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }
}

/// A running scratch server; dropping it kills the process and removes its folder.
#[derive(Debug)]
pub struct ScratchServer {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

/// Attempts at a free port: another process may take the one found before the server binds.
const PORT_ATTEMPTS: usize = 3;

#[cfg_attr(not(feature = "testing"), allow(dead_code))]
impl ScratchServer {
    /// Starts `redis-server` (from `PATH`) with `options` on a free port of 127.0.0.1, and
    /// waits until it answers.
    pub async fn start(options: &ScratchOptions) -> Result<Self, ScratchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::spawn(options)?.ready(options.startup_timeout).await {
                Err(ScratchError::Exited { output, .. })
                    if attempt < PORT_ATTEMPTS && output.contains("Address already in use") => {}
                other => return other,
            }
        }
    }

    fn spawn(options: &ScratchOptions) -> Result<Self, ScratchError> {
        let dir = tempfile::tempdir().map_err(ScratchError::Dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(ScratchError::Port)?
            .port();
        // Its output goes to a file (a pipe nobody reads could fill up and stall it).
        let log = File::create(dir.path().join("redis-server.log")).map_err(ScratchError::Dir)?;
        let log2 = log.try_clone().map_err(ScratchError::Dir)?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .args(["--databases", &options.databases.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .args(&options.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => ScratchError::NotFound,
                _ => ScratchError::Spawn(e),
            })?;
        Ok(Self { child, dir, port })
    }

    async fn ready(mut self, timeout: Duration) -> Result<Self, ScratchError> {
        let deadline = Instant::now() + timeout;
        loop {
            if answers(self.port).await {
                return Ok(self);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ScratchError::Exited {
                    status,
                    output: self.output_tail(),
                });
            }
            if Instant::now() > deadline {
                return Err(ScratchError::Timeout(timeout));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its working folder (`--dir`), removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its log file (what it printed).
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("redis-server.log")
    }

    /// The last lines it printed, on one line.
    fn output_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(5)..].join(" / ")
    }

    /// Kills the server now.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a server on `port` answers `PING`: `+PONG`, or `-NOAUTH` when it has a password
/// (not `-LOADING` while it loads a dump).
async fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    let mut got = 0;
    let read = async {
        while got < buf.len() {
            match s.read(&mut buf[got..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), read).await;
    buf[..got].starts_with(b"+PONG") || buf[..got].starts_with(b"-NOAUTH")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_starts_answers_and_is_gone_when_dropped() {
        let server = match ScratchServer::start(&ScratchOptions::new().databases(20)).await {
            Err(ScratchError::NotFound) => {
                return lifeboat_testing::service_unavailable("redis-server is not on PATH")
            }
            other => other.unwrap(),
        };
        assert!(answers(server.port()).await);
        let (port, dir) = (server.port(), server.dir().to_path_buf());
        server.stop();
        assert!(!answers(port).await);
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn a_server_that_exits_is_reported_with_its_own_words() {
        let options = ScratchOptions::new().args(["--no-such-directive", "x"]);
        match ScratchServer::start(&options).await {
            Err(ScratchError::NotFound) => {
                lifeboat_testing::service_unavailable("redis-server is not on PATH")
            }
            Err(ScratchError::Exited { output, .. }) => {
                assert!(output.contains("no-such-directive"), "{output}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_password_protected_server_counts_as_up() {
        let options = ScratchOptions::new()
            .args(["--requirepass", "pw"])
            .startup_timeout(Duration::from_secs(5));
        match ScratchServer::start(&options).await {
            Err(ScratchError::NotFound) => {
                lifeboat_testing::service_unavailable("redis-server is not on PATH")
            }
            other => drop(other.unwrap()),
        }
    }
}
