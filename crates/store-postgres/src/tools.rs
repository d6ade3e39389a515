//! The PostgreSQL client tools (`pg_dump`, `pg_dumpall`, `pg_restore`, `psql`): where they are,
//! which version they are, and running them with their stdout or stdin streamed and their
//! stderr kept (the last [`STDERR_TAIL`] bytes) for the error message.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use lifeboat_edge::copy::{copy, CopyError};
use lifeboat_edge::redact::scrub;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;
use tokio_io_timeout::TimeoutReader;

use crate::conn::ConnInfo;
use crate::error::PostgresError;
use crate::hold_back::HoldBack;

/// How much of a tool's stderr is kept for the error message.
pub(crate) const STDERR_TAIL: usize = 64 * 1024;

/// Where the client tools are: `bin_dir`, or the `PATH`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tools {
    bin_dir: Option<PathBuf>,
}

/// A client tool's version as it reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolVersion {
    /// e.g. `15.20`.
    pub(crate) text: String,
    /// e.g. 15.
    pub(crate) major: u32,
}

impl Tools {
    /// Tools in `bin_dir`, or on `PATH` when `None`.
    pub(crate) fn new(bin_dir: Option<&Path>) -> Self {
        Self {
            bin_dir: bin_dir.map(Path::to_path_buf),
        }
    }

    /// The program to run for `name`.
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// Runs `name --version`.
    pub(crate) async fn version(&self, name: &str) -> Result<ToolVersion, PostgresError> {
        let program = self.program(name);
        let output = Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| PostgresError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
        parse_tool_version(&text).ok_or(PostgresError::BadToolVersion {
            program: program.display().to_string(),
            output: text,
        })
    }

    /// Fails when the client tool `name` is older than the server (`server_version_num`, e.g.
    /// 150020); returns the tool's version.
    pub(crate) async fn check_compatible(
        &self,
        name: &str,
        server_version: &str,
        server_version_num: u32,
        conn: &ConnInfo,
    ) -> Result<ToolVersion, PostgresError> {
        let version = self.version(name).await?;
        let server_major = server_major(server_version_num);
        if version.major < server_major {
            return Err(PostgresError::ClientTooOld {
                tool: name.to_string(),
                client_version: version.text,
                server: conn.describe(),
                server_version: server_version.to_string(),
                server_major,
            });
        }
        Ok(version)
    }
}

/// The major version of a `server_version_num` (150020 → 15; 90624 → 9).
pub(crate) fn server_major(version_num: u32) -> u32 {
    // Since PostgreSQL 10 the major is one number; 9.6 (90624) reports as 9, which is
    // enough to tell "older than the server".
    version_num / 10_000
}

/// Reads `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → 15.20, major 15.
pub(crate) fn parse_tool_version(output: &str) -> Option<ToolVersion> {
    let line = output.lines().next()?;
    let after = line.split(") ").nth(1).unwrap_or(line);
    let token = after.split_whitespace().next()?;
    let number: String = token
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let major = number.split('.').next()?.parse().ok()?;
    Some(ToolVersion {
        text: number,
        major,
    })
}

/// One run of a client tool against one database: program, arguments, and the connection
/// (which reaches the tool through `PG*` environment variables only).
pub(crate) struct ToolRun {
    program: PathBuf,
    args: Vec<String>,
    conn: ConnInfo,
}

impl ToolRun {
    /// `program args...` connected to `conn`.
    pub(crate) fn new(program: PathBuf, args: Vec<String>, conn: &ConnInfo) -> Self {
        Self {
            program,
            args,
            conn: conn.clone(),
        }
    }

    /// The command line as shown in errors and logs (holds no secret).
    pub(crate) fn display(&self) -> String {
        let name = self
            .program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.display().to_string());
        std::iter::once(name)
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn spawn(&self, stdin: Stdio, stdout: Stdio) -> Result<Child, PostgresError> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in self.conn.child_env() {
            command.env(key, value);
        }
        tracing::debug!(command = %self.display(), server = %self.conn.describe(), "running");
        command.spawn().map_err(|source| PostgresError::Spawn {
            program: self.program.display().to_string(),
            source,
        })
    }

    fn failed(&self, status: std::process::ExitStatus, stderr: String) -> PostgresError {
        PostgresError::Tool {
            command: self.display(),
            server: self.conn.describe(),
            status,
            stderr: self.scrubbed(&stderr),
        }
    }

    /// A tool's stderr as it may be shown: libpq echoes no password, but a tool's message
    /// could quote a connection string.
    fn scrubbed(&self, stderr: &str) -> String {
        scrub(stderr, self.conn.secrets())
    }

    /// Streams the tool's stdout into `out` (flushed, never shut down). Fails when the tool
    /// exits non-zero or by a signal, or writes nothing; returns the bytes written.
    pub(crate) async fn stream_into(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, PostgresError> {
        let mut child = self.spawn(Stdio::null(), Stdio::piped())?;
        let stderr = collect_tail(&mut child);
        let Some(stdout) = child.stdout.take() else {
            return Err(self.failed_to_pipe());
        };
        // A server that stops answering leaves the tool waiting for ever, silent: no byte for
        // `io_timeout` ends the dump (the tool is killed below) instead of hanging the backup.
        let mut stdout = TimeoutReader::new(stdout);
        stdout.set_timeout(Some(self.conn.io_timeout()));
        let mut stdout = Box::pin(stdout);
        let total = match copy(&mut stdout, out).await {
            Ok(total) => total,
            Err(CopyError::Read(source)) => {
                let _ = child.kill().await;
                let what = if source.kind() == std::io::ErrorKind::TimedOut {
                    format!(
                        "reading the output of `{}` (no output for {}: io_timeout)",
                        self.display(),
                        lifeboat_edge::HumanDuration::from_secs(self.conn.io_timeout().as_secs())
                    )
                } else {
                    format!("reading the output of `{}`", self.display())
                };
                return Err(PostgresError::Io { what, source });
            }
            Err(CopyError::Write(source)) => {
                // The pipeline is gone (storage failed): stop the tool, report the cause.
                let _ = child.kill().await;
                let _ = stderr.await;
                return Err(PostgresError::Output {
                    server: self.conn.describe(),
                    source,
                });
            }
        };
        drop(stdout);
        let stderr = self.finish(child, stderr).await?;
        if total == 0 {
            return Err(PostgresError::EmptyDump {
                command: self.display(),
                server: self.conn.describe(),
                stderr: self.scrubbed(&stderr),
            });
        }
        if !stderr.trim().is_empty() {
            tracing::warn!(command = %self.display(), "{}", self.scrubbed(stderr.trim()));
        }
        Ok(total)
    }

    /// Feeds `input` to the tool's stdin until EOF, then waits for it.
    ///
    /// The tool must not be able to finish (and commit) before `input` has reached EOF, so
    /// its stdin is behind a [`HoldBack`]: the last chunk read reaches it only once the next
    /// read returned EOF. When `input` fails, the tool is **killed** before its stdin is
    /// closed, so it never sees a clean end of a truncated dump (and its open transaction is
    /// rolled back by the server).
    pub(crate) async fn feed_from(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<u64, PostgresError> {
        let mut child = self.spawn(Stdio::piped(), Stdio::null())?;
        let stderr = collect_tail(&mut child);
        let Some(stdin) = child.stdin.take() else {
            return Err(self.failed_to_pipe());
        };
        let mut stdin = HoldBack::new(stdin);
        let total = match copy(input, &mut stdin).await {
            Ok(total) => total,
            Err(CopyError::Read(source)) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                drop(stdin);
                let stderr = stderr.await.unwrap_or_default();
                tracing::debug!(command = %self.display(), "killed after a stream error; its stderr: {}", self.scrubbed(stderr.trim()));
                return Err(PostgresError::Input { source });
            }
            Err(CopyError::Write(source)) => {
                return Err(self
                    .stopped_reading(child, stdin.into_inner(), stderr, source)
                    .await);
            }
        };
        // EOF: the pipeline has checked the whole stream, and the tool has all of it.
        let mut stdin = stdin.into_inner();
        if let Err(source) = stdin.shutdown().await {
            tracing::debug!("closing the stdin of `{}`: {source}", self.display());
        }
        drop(stdin);
        self.finish(child, stderr).await?;
        Ok(total)
    }

    /// The tool stopped reading its stdin: it failed, and its exit status and stderr say why.
    async fn stopped_reading(
        &self,
        mut child: Child,
        stdin: ChildStdin,
        stderr: JoinHandle<String>,
        source: std::io::Error,
    ) -> PostgresError {
        drop(stdin);
        let status = match child.wait().await {
            Ok(status) => status,
            Err(source) => {
                return PostgresError::Io {
                    what: format!("waiting for `{}`", self.display()),
                    source,
                }
            }
        };
        let stderr = match stderr.await {
            Ok(stderr) => stderr,
            Err(e) => return e.into(),
        };
        if !status.success() {
            return self.failed(status, stderr);
        }
        PostgresError::Feed {
            command: self.display(),
            source,
        }
    }

    /// Runs the tool with no input; fails on a non-zero exit. Returns its stderr.
    pub(crate) async fn run(&self) -> Result<String, PostgresError> {
        let mut child = self.spawn(Stdio::null(), Stdio::null())?;
        let stderr = collect_tail(&mut child);
        self.finish(child, stderr).await
    }

    async fn finish(
        &self,
        mut child: Child,
        stderr: JoinHandle<String>,
    ) -> Result<String, PostgresError> {
        let status = child.wait().await.map_err(|source| PostgresError::Io {
            what: format!("waiting for `{}`", self.display()),
            source,
        })?;
        let stderr = stderr.await?;
        if !status.success() {
            return Err(self.failed(status, stderr));
        }
        Ok(stderr)
    }

    fn failed_to_pipe(&self) -> PostgresError {
        PostgresError::Io {
            what: format!("connecting a pipe to `{}`", self.display()),
            source: std::io::Error::other("no pipe"),
        }
    }
}

/// Reads the child's stderr on a task, keeping its last [`STDERR_TAIL`] bytes.
pub(crate) fn collect_tail(child: &mut Child) -> JoinHandle<String> {
    let stderr = child.stderr.take();
    tokio::spawn(async move {
        let Some(mut stderr) = stderr else {
            return String::new();
        };
        let mut tail: VecDeque<u8> = VecDeque::with_capacity(4096);
        let mut buffer = [0u8; 8192];
        loop {
            match stderr.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    tail.extend(&buffer[..n]);
                    let excess = tail.len().saturating_sub(STDERR_TAIL);
                    tail.drain(..excess);
                }
            }
        }
        let bytes: Vec<u8> = tail.into();
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        let v =
            parse_tool_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n").unwrap();
        assert_eq!(v.major, 15);
        assert_eq!(v.text, "15.20");
        assert_eq!(
            parse_tool_version("psql (PostgreSQL) 16.1").unwrap().major,
            16
        );
        assert_eq!(
            parse_tool_version("pg_restore (PostgreSQL) 9.6.24")
                .unwrap()
                .major,
            9
        );
        assert!(parse_tool_version("").is_none());
        assert!(parse_tool_version("something else").is_none());
        assert_eq!(server_major(150020), 15);
        assert_eq!(server_major(90624), 9);
    }
}
