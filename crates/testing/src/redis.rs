//! Private `redis-server`s for tests (feature `redis`), started by the store's own
//! scratch-server spawner (`store_redis::testing`, the one restore drills use): a free
//! loopback port, no persistence, killed and removed on drop.
//!
//! ```no_run
//! # async fn example() {
//! use lifeboat_testing::redis::TestRedis;
//!
//! // None (a skip) when redis-server is missing, a failure under LIFEBOAT_REQUIRE_SERVICES=1.
//! let Some(server) = TestRedis::start(&["--requirepass", "pw"]).await else {
//!     return;
//! };
//! assert_eq!(server.cli(&["PING"]), "PONG");
//! # }
//! ```

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub use store_redis::testing::{ScratchError, ScratchOptions, ScratchServer};

use crate::{free_port, service_unavailable};

/// What every test server gets before its own arguments: a replication snapshot starts at
/// once (Redis waits 5 s for more replicas by default).
const DEFAULT_ARGS: &[&str] = &["--repl-diskless-sync-delay", "0"];

/// A private redis-server for one test.
#[derive(Debug)]
pub struct TestRedis {
    server: ScratchServer,
    password: Option<String>,
    tls_port: Option<u16>,
}

impl TestRedis {
    /// Starts one with `args` after the defaults (a later argument wins). `None`, after
    /// [`service_unavailable`], when redis-server is not installed; any other failure to
    /// start panics.
    pub async fn start(args: &[&str]) -> Option<Self> {
        Self::started(args, None, ScratchServer::start(&options(args)).await)
    }

    /// [`TestRedis::start`] for a test without a tokio runtime (it starts a small one).
    pub fn start_blocking(args: &[&str]) -> Option<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a tokio runtime for redis-server: {e}"));
        runtime.block_on(Self::start(args))
    }

    /// Starts one that also listens for TLS on its own port (see [`TestRedis::tls_url`])
    /// with the server certificate `cert` / `key` and the CA `ca`; the plain port stays for
    /// the test's own fixtures. `None` when redis-server is missing (as [`TestRedis::start`])
    /// or was built without TLS support (a notice, never a failure: the service is there,
    /// the feature is not).
    pub async fn start_tls(cert: &Path, key: &Path, ca: &Path) -> Option<Self> {
        let tls_port = free_port();
        let mut args: Vec<String> = vec!["--tls-port".into(), tls_port.to_string()];
        for (flag, path) in [
            ("--tls-cert-file", cert),
            ("--tls-key-file", key),
            ("--tls-ca-cert-file", ca),
        ] {
            args.push(flag.into());
            args.push(path.display().to_string());
        }
        args.extend(["--tls-auth-clients".into(), "no".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match ScratchServer::start(&options(&args)).await {
            Err(ScratchError::Exited { output, .. })
                if output.to_ascii_lowercase().contains("tls") =>
            {
                eprintln!("skipping: this redis-server was built without TLS support ({output})");
                None
            }
            started => Self::started(&args, Some(tls_port), started),
        }
    }

    fn started(
        args: &[&str],
        tls_port: Option<u16>,
        started: Result<ScratchServer, ScratchError>,
    ) -> Option<Self> {
        match started {
            Ok(server) => Some(Self {
                server,
                password: args
                    .iter()
                    .position(|a| *a == "--requirepass")
                    .and_then(|i| args.get(i + 1))
                    .map(|p| p.to_string()),
                tls_port,
            }),
            Err(ScratchError::NotFound) => {
                service_unavailable("redis-server is not on PATH");
                None
            }
            Err(e) => panic!("redis-server did not start: {e}"),
        }
    }

    /// Its plain port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `redis://127.0.0.1:<port>` (without the password).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `rediss://127.0.0.1:<tls port>`, for a server from [`TestRedis::start_tls`].
    pub fn tls_url(&self) -> String {
        let port = self
            .tls_port
            .unwrap_or_else(|| panic!("this test server was not started with TLS"));
        format!("rediss://127.0.0.1:{port}")
    }

    /// Its working folder (`--dir`).
    pub fn dir(&self) -> &Path {
        self.server.dir()
    }

    fn redis_cli(&self) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &self.port().to_string()]);
        if let Some(pw) = &self.password {
            cmd.env("REDISCLI_AUTH", pw);
        }
        cmd
    }

    /// Runs `redis-cli` against this server (authenticated); returns its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self
            .redis_cli()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("redis-cli cannot be run: {e}"));
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Pipes commands (one per line) through `redis-cli`.
    pub fn pipe(&self, commands: &str) {
        let mut child = self
            .redis_cli()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-cli cannot be run: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(commands.as_bytes())
                .unwrap_or_else(|e| panic!("writing to redis-cli: {e}"));
        }
        let status = child
            .wait()
            .unwrap_or_else(|e| panic!("waiting for redis-cli: {e}"));
        assert!(status.success(), "redis-cli failed on piped commands");
    }
}

fn options(args: &[&str]) -> ScratchOptions {
    // A test server plays a user's Redis: open unless the test asks for `--requirepass`.
    ScratchOptions::new()
        .without_password()
        .args(DEFAULT_ARGS.iter().copied())
        .args(args.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_with_a_password_is_usable_and_gone_when_dropped() {
        let Some(server) = TestRedis::start_blocking(&["--requirepass", "pw-t1"]) else {
            return;
        };
        assert_eq!(server.cli(&["PING"]), "PONG");
        server.pipe("SET a 1\nSELECT 3\nSET b 2\n");
        assert_eq!(server.cli(&["GET", "a"]), "1");
        assert_eq!(server.cli(&["-n", "3", "DBSIZE"]), "1");
        assert_eq!(
            server.cli(&["CONFIG", "GET", "repl-diskless-sync-delay"]),
            "repl-diskless-sync-delay\n0"
        );
        let (port, dir) = (server.port(), server.dir().to_path_buf());
        drop(server);
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        assert!(!dir.exists());
    }
}
