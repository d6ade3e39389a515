//! A throw-away `redis-server` on a free loopback port (restore drills), killed on drop.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::RedisError;

/// A running scratch server; dropping it kills the process and removes its directory.
pub(crate) struct ScratchServer {
    child: Child,
    _dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl ScratchServer {
    /// Starts `redis-server` (from `PATH`) without persistence on a free port, with
    /// `databases` db indexes (at least Redis's default 16).
    pub async fn start(databases: u32) -> Result<Self, RedisError> {
        let dir = tempfile::tempdir().map_err(|e| RedisError::Drill(format!("temp dir: {e}")))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| RedisError::Drill(format!("no free port: {e}")))?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .args(["--databases", &databases.max(16).to_string()])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                RedisError::Drill(if e.kind() == std::io::ErrorKind::NotFound {
                    "`redis-server` is not on PATH: a restore drill needs it to start a scratch server".to_string()
                } else {
                    format!("starting redis-server: {e}")
                })
            })?;
        let mut server = Self {
            child,
            _dir: dir,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(port).await {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(RedisError::Drill(format!(
                    "the scratch redis-server exited ({status})"
                )));
            }
            if Instant::now() > deadline {
                return Err(RedisError::Drill(
                    "the scratch redis-server did not answer within 10s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server now.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

async fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), s.read_exact(&mut buf)).await,
        Ok(Ok(_)) if &buf == b"+PONG\r\n"
    )
}
