//! Telling one process from another on this host, across pid reuse and reboots.
//!
//! A pid alone names a process only while it lives: after it exits (or the host reboots) the
//! same number can belong to anything. A [`ProcessStamp`] adds what makes it unique on Linux:
//! the process's start time (`/proc/<pid>/stat` field 22, clock ticks since boot) and the
//! kernel's boot id (`/proc/sys/kernel/random/boot_id`, new at every boot). Locks record one
//! (README, the lock rules under "Commands"), and so do the scratch servers, databases and vhosts of restore
//! drills, so that a later run can tell a dead holder from a live one without ever mistaking
//! an unrelated process for it. Where there is no `/proc` every answer is "unknown".

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A process of this host: its pid, start time and the boot it ran in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStamp {
    /// The process id.
    pub pid: u32,
    /// Its start time, clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
    /// The boot id of the kernel it ran under.
    pub boot_id: String,
}

/// What `/proc` says of a recorded process (see [`ProcRoot::judge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// No process has that pid.
    Dead,
    /// The host rebooted since: the recorded boot id is not the current one.
    Rebooted,
    /// The pid is alive but belongs to another process (its start time differs).
    Reused,
    /// The very process recorded: same boot, pid and start time.
    Same,
    /// The pid is alive, but nothing recorded proves it is the same process (no start time
    /// or boot id was recorded, or they cannot be read).
    AliveUnproven,
    /// There is no `/proc` here: nothing is known.
    Unknown,
}

/// A `/proc` file system to read (normally `/proc`; another folder in tests).
#[derive(Debug, Clone)]
pub struct ProcRoot(PathBuf);

impl Default for ProcRoot {
    fn default() -> Self {
        Self(PathBuf::from("/proc"))
    }
}

impl ProcRoot {
    /// A `/proc` mounted at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Whether this `/proc` is there at all.
    pub fn available(&self) -> bool {
        self.path().join("self").exists()
    }

    /// Whether process `pid` exists: `None` without `/proc`.
    pub fn alive(&self, pid: u32) -> Option<bool> {
        if !self.available() {
            return None;
        }
        Some(self.path().join(pid.to_string()).exists())
    }

    /// The current boot id.
    pub fn boot_id(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.path().join("sys/kernel/random/boot_id")).ok()?;
        let id = text.trim();
        (!id.is_empty()).then(|| id.to_owned())
    }

    /// Process `pid`'s start time in clock ticks after boot.
    pub fn start_ticks(&self, pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(self.path().join(pid.to_string()).join("stat")).ok()?;
        start_ticks_of(&stat)
    }

    /// Process `pid`'s command name (`/proc/<pid>/comm`).
    pub fn command_name(&self, pid: u32) -> Option<String> {
        let comm = std::fs::read_to_string(self.path().join(pid.to_string()).join("comm")).ok()?;
        Some(comm.trim_end_matches('\n').to_owned())
    }

    /// The stamp of process `pid` now, if it exists and `/proc` tells.
    pub fn stamp(&self, pid: u32) -> Option<ProcessStamp> {
        Some(ProcessStamp {
            pid,
            start_ticks: self.start_ticks(pid)?,
            boot_id: self.boot_id()?,
        })
    }

    /// What became of process `pid`, recorded with `start_ticks` and `boot_id` (either may be
    /// missing in records of older versions).
    pub fn judge(&self, pid: u32, start_ticks: Option<u64>, boot_id: Option<&str>) -> Liveness {
        match self.alive(pid) {
            None => return Liveness::Unknown,
            Some(false) => return Liveness::Dead,
            Some(true) => {}
        }
        let boot_now = self.boot_id();
        if let (Some(recorded), Some(now)) = (boot_id, boot_now.as_deref()) {
            if recorded != now {
                return Liveness::Rebooted;
            }
        }
        let start_now = self.start_ticks(pid);
        if let (Some(recorded), Some(now)) = (start_ticks, start_now) {
            if recorded != now {
                return Liveness::Reused;
            }
        }
        match (start_ticks, start_now, boot_id, boot_now) {
            (Some(_), Some(_), Some(_), Some(_)) => Liveness::Same,
            _ => Liveness::AliveUnproven,
        }
    }

    /// [`ProcRoot::judge`] of a recorded stamp.
    pub fn judge_stamp(&self, stamp: &ProcessStamp) -> Liveness {
        self.judge(stamp.pid, Some(stamp.start_ticks), Some(&stamp.boot_id))
    }
}

/// This process's stamp (`None` without `/proc`).
pub fn current() -> Option<ProcessStamp> {
    ProcRoot::default().stamp(std::process::id())
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and
/// may itself hold spaces and `)`, so the fields are counted after the last `)`.
fn start_ticks_of(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts with field 3 (state): field 22 is the 20th after it.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_read_past_any_command_name() {
        let fields: Vec<String> = (3..=30).map(|n| n.to_string()).collect();
        let tail = fields.join(" ");
        assert_eq!(start_ticks_of(&format!("42 (redis) {tail}")), Some(22));
        assert_eq!(start_ticks_of(&format!("42 (a b) c) {tail}")), Some(22));
        assert_eq!(start_ticks_of("42 (x) S 1 2"), None);
        assert_eq!(start_ticks_of("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_itself_and_not_a_reused_pid() {
        let proc = ProcRoot::default();
        let me = current().expect("a stamp of this process");
        assert_eq!(me.pid, std::process::id());
        assert_eq!(proc.judge_stamp(&me), Liveness::Same);
        let other_start = ProcessStamp {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert_eq!(proc.judge_stamp(&other_start), Liveness::Reused);
        let other_boot = ProcessStamp {
            boot_id: "00000000-0000-0000-0000-000000000000".into(),
            ..me.clone()
        };
        assert_eq!(proc.judge_stamp(&other_boot), Liveness::Rebooted);
        assert_eq!(
            proc.judge(me.pid, None, None),
            Liveness::AliveUnproven,
            "an old record proves nothing"
        );
        assert_eq!(proc.judge(4_000_000_000, None, None), Liveness::Dead);
    }

    #[test]
    fn without_proc_nothing_is_known() {
        let proc = ProcRoot::at("/nonexistent-proc");
        assert_eq!(proc.alive(1), None);
        assert_eq!(proc.judge(1, Some(1), Some("x")), Liveness::Unknown);
        assert_eq!(proc.stamp(1), None);
    }
}
