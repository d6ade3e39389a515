//! Pidfiles of scratch `redis-server`s, and the sweep that stops the orphans of dead drills.
//!
//! A scratch server dies with its drill (`setpriv --pdeathsig`, see [`crate::scratch`]), but
//! where that is not available, or if it ever fails, the server would keep a restored dataset
//! on a loopback port. So each one leaves a pidfile in a private runtime folder naming itself
//! and its owner (both as [`ProcessStamp`]s: pid, start time, boot id), and every later start
//! sweeps that folder: a server whose owner is gone and which is still provably the very
//! process recorded (same boot, pid and start time, and a `redis*` command name) is killed;
//! anything else that is alive is left alone, so an unrelated process that inherited a pid,
//! or the server of a drill still running, is never touched.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use backup_core::process::{Liveness, ProcRoot, ProcessStamp};
use serde::{Deserialize, Serialize};

/// The prefix of the scratch servers' temporary folders: a sweep only removes folders so named.
pub(crate) const SCRATCH_DIR_PREFIX: &str = "lifeboat-scratch-redis-";

const PIDFILE_PREFIX: &str = "redis-";
const PIDFILE_SUFFIX: &str = ".json";

/// What a pidfile holds.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Pidfile {
    /// The scratch server.
    pub server: ProcessStamp,
    /// The process that started it (the drill, or a test).
    pub owner: ProcessStamp,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its working folder (a temporary folder named [`SCRATCH_DIR_PREFIX`]...).
    pub dir: PathBuf,
}

/// The folder of the pidfiles: `$XDG_RUNTIME_DIR/lifeboat`, else `/run/lifeboat` for root,
/// else `<temp dir>/lifeboat-<uid>`; created 0700, and refused unless it is a real folder of
/// this user that nobody else may write (a planted pidfile must not make a sweep kill).
pub(crate) fn default_runtime_dir() -> PathBuf {
    let uid = rustix::process::getuid().as_raw();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        if dir.is_absolute() && dir.is_dir() {
            return dir.join("lifeboat");
        }
    }
    let run = Path::new("/run");
    if uid == 0 && run.is_dir() {
        return run.join("lifeboat");
    }
    std::env::temp_dir().join(format!("lifeboat-{uid}"))
}

/// Creates `dir` (0700) if needed and checks it is private to this user.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    let uid = rustix::process::getuid().as_raw();
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} must be a folder of uid {uid} with mode 0700 (it holds the pidfiles of \
                 scratch servers)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// The pidfile of a server with pid `pid` in `dir`.
pub(crate) fn pidfile_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{PIDFILE_PREFIX}{pid}{PIDFILE_SUFFIX}"))
}

/// Writes `record` to its pidfile in `dir`, atomically (a sweep never reads half a file).
pub(crate) fn write(dir: &Path, record: &Pidfile) -> io::Result<PathBuf> {
    let path = pidfile_path(dir, record.server.pid);
    let staging = dir.join(format!(".{PIDFILE_PREFIX}{}.tmp", record.server.pid));
    let body = serde_json::to_vec(record).map_err(io::Error::other)?;
    fs::write(&staging, body)?;
    fs::rename(&staging, &path)?;
    Ok(path)
}

/// What a sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Orphaned servers killed.
    pub killed: Vec<u32>,
    /// Pidfiles removed (of killed servers and of servers already gone).
    pub removed: usize,
}

/// Stops the scratch servers of dead owners recorded in `dir` and removes their pidfiles and
/// folders. Never fails: what cannot be judged or done is left (and logged).
pub(crate) fn sweep(proc: &ProcRoot, dir: &Path) -> Swept {
    let mut swept = Swept::default();
    let Ok(entries) = fs::read_dir(dir) else {
        return swept;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(PIDFILE_PREFIX) && name.ends_with(PIDFILE_SUFFIX)) {
            continue;
        }
        let path = entry.path();
        let record = match fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Pidfile>(&b).ok())
        {
            Some(record) => record,
            None => {
                tracing::debug!(pidfile = %path.display(), "unreadable scratch pidfile; left");
                continue;
            }
        };
        match proc.judge_stamp(&record.owner) {
            Liveness::Dead | Liveness::Rebooted | Liveness::Reused => {}
            // Its drill still runs (or nothing can be told): not an orphan.
            Liveness::Same | Liveness::AliveUnproven | Liveness::Unknown => continue,
        }
        let server = &record.server;
        match proc.judge_stamp(server) {
            Liveness::Same => {
                let is_redis = proc
                    .command_name(server.pid)
                    .is_some_and(|c| c.starts_with("redis"));
                if !is_redis {
                    tracing::warn!(pid = server.pid, pidfile = %path.display(),
                        "a scratch pidfile names a process that is not redis-server; left");
                    continue;
                }
                let Some(pid) = i32::try_from(server.pid)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
                else {
                    continue;
                };
                if let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::KILL) {
                    tracing::warn!(pid = server.pid, error = %e,
                        "cannot stop an orphaned scratch redis-server");
                    continue;
                }
                tracing::warn!(
                    pid = server.pid,
                    port = record.port,
                    "stopped the scratch redis-server of a restore drill that died"
                );
                swept.killed.push(server.pid);
            }
            Liveness::Dead | Liveness::Rebooted | Liveness::Reused => {}
            Liveness::AliveUnproven | Liveness::Unknown => continue,
        }
        remove_scratch_dir(&record.dir);
        if fs::remove_file(&path).is_ok() {
            swept.removed += 1;
        }
    }
    swept
}

/// Removes a dead server's folder, if it is one of ours (by name: a pidfile's path is never
/// trusted further).
fn remove_scratch_dir(dir: &Path) {
    let ours = dir.is_absolute()
        && dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(SCRATCH_DIR_PREFIX));
    if ours && fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        let _ = fs::remove_dir_all(dir);
    }
}
