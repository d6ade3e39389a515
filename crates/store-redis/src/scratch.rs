//! [`ScratchServer`]: a throw-away `redis-server` on a free loopback port, without
//! persistence, private and bound to the life of the process that started it. Restore drills
//! start one; so do the tests of every crate, through `lifeboat_testing::redis` (cargo
//! feature `testing`).
//!
//! A scratch server holds a whole restored dataset, so (README, Redis `verify --deep`):
//! - it listens on 127.0.0.1 only (`bind`, `protected-mode yes`) and requires a random
//!   password (32 bytes from the OS's CSPRNG) handed over on its standard input
//!   (`redis-server -`), never in argv, never on disk, and scrubbed from what it prints;
//! - it dies with its starter, however that dies (`kill -9` included): it is started through
//!   util-linux's `setpriv --pdeathsig KILL`, which sets `PR_SET_PDEATHSIG` and then execs
//!   redis-server. The workspace forbids `unsafe` and `CommandExt::pre_exec` is unsafe, so the
//!   prctl cannot be made in the forked child from Rust; `setpriv` does it in the child
//!   itself, and the server process is redis-server (after exec), so its pid is the one to
//!   stop. The death signal follows the *thread* that forked, so the spawn happens on a
//!   keeper thread that lives exactly as long as the [`ScratchServer`];
//! - should that fail (no `setpriv`: other systems, minimal images), a pidfile in a private
//!   runtime folder lets the next start find and stop the orphan
//!   ([`crate::scratch_pidfile`]).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use backup_core::process::{self, ProcRoot};
use lifeboat_edge::Secret;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::scratch_pidfile::{self, Pidfile, SCRATCH_DIR_PREFIX};

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
    /// The private folder of the scratch servers' pidfiles is unusable.
    #[error("the runtime folder `{}` of scratch servers is unusable: {source}", .dir.display())]
    RuntimeDir {
        /// The folder.
        dir: PathBuf,
        /// What is wrong with it.
        #[source]
        source: io::Error,
    },
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
        /// The end of what it printed (its password scrubbed).
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
    password: bool,
    runtime_dir: Option<PathBuf>,
}

impl Default for ScratchOptions {
    fn default() -> Self {
        Self {
            databases: 16,
            args: Vec::new(),
            startup_timeout: Duration::from_secs(10),
            password: true,
            runtime_dir: None,
        }
    }
}

// Parts only the test harness uses (feature `testing`).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
impl ScratchOptions {
    /// Redis's defaults: 16 dbs, no extra arguments, 10 s to start, a random password.
    pub fn new() -> Self {
        Self::default()
    }

    /// `--databases n` (at least Redis's default 16).
    pub fn databases(mut self, n: u32) -> Self {
        self.databases = n.max(16);
        self
    }

    /// Extra arguments after the defaults (a later one wins in redis-server): `--tls-port`,
    /// `--repl-diskless-sync yes`, ... (a test's `--requirepass` replaces the random one).
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

    /// No random password: for test servers that play a user's open Redis. A drill never
    /// uses this.
    pub fn without_password(mut self) -> Self {
        self.password = false;
        self
    }

    /// The folder of the pidfiles (default: see [`ScratchServer::start`]); tests use their
    /// own to sweep only what they planted.
    pub fn runtime_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.runtime_dir = Some(dir.into());
        self
    }
}

/// A running scratch server; dropping it kills the process and removes its folder and
/// pidfile.
#[derive(Debug)]
pub struct ScratchServer {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    password: Option<Secret>,
    pidfile: Option<PathBuf>,
    keeper: Option<Keeper>,
}

/// The thread that forked the server: with `PR_SET_PDEATHSIG` the server dies when this
/// thread ends, so it blocks until the [`ScratchServer`] is dropped (the sender closes).
#[derive(Debug)]
struct Keeper {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

/// Attempts at a free port: another process may take the one found before the server binds.
const PORT_ATTEMPTS: usize = 3;

#[cfg_attr(not(feature = "testing"), allow(dead_code))]
impl ScratchServer {
    /// Starts `redis-server` (from `PATH`) with `options` on a free port of 127.0.0.1, and
    /// waits until it answers. First stops the orphaned scratch servers of dead processes
    /// recorded in the runtime folder (`$XDG_RUNTIME_DIR/lifeboat`, `/run/lifeboat` for root,
    /// else `<temp dir>/lifeboat-<uid>`).
    pub async fn start(options: &ScratchOptions) -> Result<Self, ScratchError> {
        let runtime = options
            .runtime_dir
            .clone()
            .unwrap_or_else(scratch_pidfile::default_runtime_dir);
        let proc = ProcRoot::default();
        let runtime = if proc.available() {
            scratch_pidfile::private_dir(&runtime).map_err(|source| ScratchError::RuntimeDir {
                dir: runtime.clone(),
                source,
            })?;
            scratch_pidfile::sweep(&proc, &runtime);
            Some(runtime)
        } else {
            None
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let server = Self::spawn(options, runtime.as_deref())?;
            match server.ready(options.startup_timeout).await {
                Err(ScratchError::Exited { output, .. })
                    if attempt < PORT_ATTEMPTS && output.contains("Address already in use") => {}
                other => return other,
            }
        }
    }

    fn spawn(options: &ScratchOptions, runtime: Option<&Path>) -> Result<Self, ScratchError> {
        let redis = find_on_path("redis-server").ok_or(ScratchError::NotFound)?;
        let dir = tempfile::Builder::new()
            .prefix(SCRATCH_DIR_PREFIX)
            .tempdir()
            .map_err(ScratchError::Dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(ScratchError::Port)?
            .port();
        // Its output goes to a file (a pipe nobody reads could fill up and stall it).
        let log = File::create(dir.path().join("redis-server.log")).map_err(ScratchError::Dir)?;
        let log2 = log.try_clone().map_err(ScratchError::Dir)?;
        let password = options.password.then(random_password);
        let mut command = match find_on_path("setpriv") {
            Some(setpriv) => {
                let mut c = Command::new(setpriv);
                c.args(["--pdeathsig", "KILL", "--"]).arg(&redis);
                c
            }
            None => {
                tracing::warn!(
                    "`setpriv` is not on PATH: a scratch redis-server outlives a lifeboat that                      is killed, until the next drill stops it"
                );
                Command::new(&redis)
            }
        };
        // `-` reads configuration from stdin first; the arguments after it come later and win.
        command
            .arg("-")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .args(["--databases", &options.databases.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .args(&options.args)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log2);
        let (mut child, keeper) = spawn_kept(command).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ScratchError::NotFound,
            _ => ScratchError::Spawn(e),
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            let config = match &password {
                Some(pw) => format!("requirepass {}\n", pw.expose()),
                None => String::new(),
            };
            // A server that exited at once closed its end: `ready` reports why.
            let _ = stdin.write_all(config.as_bytes());
        }
        let mut server = Self {
            child,
            dir,
            port,
            password,
            pidfile: None,
            keeper: Some(keeper),
        };
        if let Some(runtime) = runtime {
            server.pidfile = server.write_pidfile(runtime);
        }
        Ok(server)
    }

    /// Records the server and its owner, so that a later start can stop it if this process
    /// dies without stopping it. Best effort: the death signal is the first line.
    fn write_pidfile(&self, runtime: &Path) -> Option<PathBuf> {
        let proc = ProcRoot::default();
        let record = Pidfile {
            server: proc.stamp(self.child.id())?,
            owner: process::current()?,
            port: self.port,
            dir: self.dir.path().to_path_buf(),
        };
        match scratch_pidfile::write(runtime, &record) {
            Ok(path) => Some(path),
            Err(e) => {
                tracing::warn!(dir = %runtime.display(), error = %e,
                    "cannot write the scratch server's pidfile");
                None
            }
        }
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

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `redis://127.0.0.1:<port>` (without the password: see [`ScratchServer::password`]).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The random password of the default user (`None` with
    /// [`ScratchOptions::without_password`]).
    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// Its working folder (`--dir`), removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its log file (what it printed).
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("redis-server.log")
    }

    /// The last lines it printed, on one line, without its password (Redis quotes a bad
    /// configuration line).
    fn output_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(5)..].join(" / ");
        match &self.password {
            Some(pw) => tail.replace(pw.expose(), "***"),
            None => tail,
        }
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
        if let Some(pidfile) = self.pidfile.take() {
            let _ = std::fs::remove_file(pidfile);
        }
        if let Some(keeper) = self.keeper.take() {
            drop(keeper.stop);
            let _ = keeper.thread.join();
        }
    }
}

/// Spawns `command` on a keeper thread that then waits for the stop signal (see [`Keeper`]).
fn spawn_kept(mut command: Command) -> io::Result<(Child, Keeper)> {
    let (stop, stopped) = mpsc::channel::<()>();
    let (sent, spawned) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("scratch-redis".into())
        .spawn(move || {
            let ok = {
                let child = command.spawn();
                let ok = child.is_ok();
                let _ = sent.send(child);
                ok
            };
            if ok {
                // Returns when the sender is dropped: the server has been stopped.
                let _ = stopped.recv();
            }
        })?;
    let child = spawned
        .recv()
        .map_err(|_| io::Error::other("the scratch server's keeper thread died"))??;
    Ok((child, Keeper { stop, thread }))
}

/// A password of 32 random bytes from the OS (hex: safe in a Redis configuration line).
fn random_password() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(hex::encode(bytes))
}

/// The first executable `name` in `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
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

    /// Starts a server with its pidfiles in `runtime`; `None` (a skip) without redis-server.
    async fn start_in(runtime: &Path, options: ScratchOptions) -> Option<ScratchServer> {
        match ScratchServer::start(&options.runtime_dir(runtime)).await {
            Err(ScratchError::NotFound) => {
                lifeboat_testing::service_unavailable("redis-server is not on PATH");
                None
            }
            other => Some(other.unwrap()),
        }
    }

    /// Sends one inline command on a fresh connection and returns the first reply line.
    async fn raw(port: u16, commands: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(commands.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        let read = s.read_to_end(&mut reply);
        let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
        String::from_utf8_lossy(&reply).into_owned()
    }

    fn private_runtime() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    use std::os::unix::fs::PermissionsExt as _;

    #[tokio::test]
    async fn a_drill_server_refuses_strangers_listens_on_loopback_and_hides_its_password() {
        let runtime = private_runtime();
        let Some(server) = start_in(runtime.path(), ScratchOptions::new()).await else {
            return;
        };
        let pw = server.password().unwrap().expose().to_owned();
        assert_eq!(pw.len(), 64);
        let reply = raw(server.port(), "SET key:42 v\r\nGET key:42\r\nQUIT\r\n").await;
        let lines: Vec<&str> = reply.lines().collect();
        assert!(lines.len() >= 2, "{reply}");
        assert!(
            lines[..2].iter().all(|l| l.starts_with("-NOAUTH")),
            "{reply}"
        );
        let reply = raw(
            server.port(),
            &format!("AUTH {pw}\r\nCONFIG GET bind\r\nCONFIG GET protected-mode\r\nQUIT\r\n"),
        )
        .await;
        assert!(reply.starts_with("+OK"), "{reply}");
        assert!(reply.contains("127.0.0.1"), "{reply}");
        assert!(
            !reply.contains("0.0.0.0") && !reply.contains("* "),
            "{reply}"
        );
        assert!(reply.contains("protected-mode\r\n$3\r\nyes"), "{reply}");
        // Not in argv, not in its folder.
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid())).unwrap();
        assert!(!String::from_utf8_lossy(&cmdline).contains(&pw));
        for entry in std::fs::read_dir(server.dir()).unwrap() {
            let text = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!String::from_utf8_lossy(&text).contains(&pw));
        }
        // What it prints is scrubbed should it ever quote its configuration.
        std::fs::write(server.log_file(), format!(">>> 'requirepass \"{pw}\"'\n")).unwrap();
        assert!(!server.output_tail().contains(&pw));
        // Its pidfile is there while it runs, gone after.
        let pidfile = scratch_pidfile::pidfile_path(runtime.path(), server.pid());
        assert!(pidfile.exists());
        server.stop();
        assert!(!pidfile.exists());
    }

    /// A redis-server of this test's own (not a ScratchServer), as a killed drill leaves one.
    fn plain_redis() -> (Child, u16, tempfile::TempDir) {
        let dir = tempfile::Builder::new()
            .prefix(SCRATCH_DIR_PREFIX)
            .tempdir()
            .unwrap();
        let port = lifeboat_testing::free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        (child, port, dir)
    }

    fn wait_stamp(pid: u32) -> backup_core::process::ProcessStamp {
        let proc = ProcRoot::default();
        // `comm` turns into redis-server once the exec is done.
        for _ in 0..500 {
            if proc
                .command_name(pid)
                .is_some_and(|c| c.starts_with("redis"))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        proc.stamp(pid).unwrap()
    }

    #[tokio::test]
    async fn the_next_start_stops_orphans_of_dead_owners_and_nothing_else() {
        if find_on_path("redis-server").is_none() {
            return lifeboat_testing::service_unavailable("redis-server is not on PATH");
        }
        let runtime = private_runtime();
        let me = process::current().unwrap();
        let dead_owner = backup_core::process::ProcessStamp {
            pid: 4_000_000_000,
            ..me.clone()
        };
        // 1. An orphan: its owner is gone.
        let (mut orphan, _, orphan_dir) = plain_redis();
        let record = |server, owner, dir: &Path| Pidfile {
            server,
            owner,
            port: 1,
            dir: dir.to_path_buf(),
        };
        let orphan_dir = orphan_dir.keep();
        scratch_pidfile::write(
            runtime.path(),
            &record(wait_stamp(orphan.id()), dead_owner.clone(), &orphan_dir),
        )
        .unwrap();
        // 2. The server of a drill still running (here: this test).
        let (mut running, _, running_dir) = plain_redis();
        scratch_pidfile::write(
            runtime.path(),
            &record(wait_stamp(running.id()), me.clone(), running_dir.path()),
        )
        .unwrap();
        // 3. A pidfile whose pid is now an unrelated process (a stale file after pid reuse):
        //    the recorded start time is not the process's.
        let mut unrelated = Command::new("sleep").arg("60").spawn().unwrap();
        let mut reused = wait_stamp(unrelated.id());
        reused.start_ticks += 1;
        scratch_pidfile::write(
            runtime.path(),
            &record(reused, dead_owner.clone(), &orphan_dir),
        )
        .unwrap();
        // 4. Its exact stamp, but not a redis-server.
        let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
        scratch_pidfile::write(
            runtime.path(),
            &record(wait_stamp(sleeper.id()), dead_owner.clone(), &orphan_dir),
        )
        .unwrap();

        let server = start_in(runtime.path(), ScratchOptions::new())
            .await
            .unwrap();
        let status = orphan.wait().unwrap();
        assert!(!status.success(), "the orphan was killed: {status:?}");
        assert!(!orphan_dir.exists());
        assert!(!scratch_pidfile::pidfile_path(runtime.path(), orphan.id()).exists());
        for (child, what) in [
            (&mut running, "a running drill's server"),
            (&mut unrelated, "an unrelated process under a reused pid"),
            (&mut sleeper, "a process that is not redis-server"),
        ] {
            assert!(child.try_wait().unwrap().is_none(), "{what} was killed");
            let _ = child.kill();
            let _ = child.wait();
        }
        server.stop();
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
