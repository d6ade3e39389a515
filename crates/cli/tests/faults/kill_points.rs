//! `kill -9` at seeded random points of `backup`, `prune` and `restore`, on fs and on S3.
//! After every kill (README, "What a backup is" and the lock rules under "Commands"):
//! no partial backup is listed, every backup listed verifies, the next run succeeds and takes
//! the stale lock over, and a killed restore leaves its target untouched, absent or complete
//! — never half-written. After the last kill of a backup group, a prune past the leftover
//! grace leaves no leftover behind.

use std::io::Write;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::harness::{age_tree, dir_bytes, ids, runs, tree, write_noise, Killed, Seed};
use crate::rig::{Kind, Rig};

/// Kill points per group in CI's short mode (`FAULT_RUNS` overrides).
const SHORT_RUNS: usize = 3;

/// Where a run is killed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Once this many bytes went out (the storage's upload, or the restore's staging).
    Bytes(u64),
    /// After this long (which may be before the lock, or after the end).
    After(Duration),
}

impl KillAt {
    /// Bytes within `total` three times out of four, else a time within `full` (the length
    /// of an uninterrupted run) and a quarter.
    fn pick(rng: &mut impl Rng, total: u64, full: Duration) -> KillAt {
        if rng.gen_bool(0.75) {
            KillAt::Bytes(rng.gen_range(0..total.max(1)))
        } else {
            KillAt::After(rng.gen_range(Duration::ZERO..full * 5 / 4 + Duration::from_millis(1)))
        }
    }

    fn due(self, elapsed: Duration, progress: u64) -> bool {
        match self {
            KillAt::Bytes(bytes) => progress >= bytes && progress > 0,
            KillAt::After(after) => elapsed >= after,
        }
    }
}

/// What the kill points of a group found.
#[derive(Debug, Default)]
struct Tally {
    /// Killed before a byte of the stream went out.
    before: u32,
    /// Killed with the stream under way.
    mid_stream: u32,
    /// Killed after its work was visible (the manifest written, the target renamed).
    after: u32,
    /// Finished before its kill point came.
    finished: u32,
    /// Stale locks the next run took over.
    locks_taken_over: u32,
}

impl Tally {
    fn points(&self) -> u32 {
        self.before + self.mid_stream + self.after + self.finished
    }

    fn line(&self) -> String {
        format!(
            "{} kill points survived ({} mid-stream, {} before the stream, {} after its end, {} finished first), {} stale locks taken over",
            self.points(),
            self.mid_stream,
            self.before,
            self.after,
            self.finished,
            self.locks_taken_over
        )
    }
}

/// The one-line figures of a test, on the CI log whether or not output is captured.
pub fn summary(line: &str) {
    let _ = writeln!(std::io::stderr(), "faults: {line}");
}

fn backup_kill_points(kind: Kind, test: &'static str) {
    let (seed, mut rng) = Seed::new(test);
    let Some(rig) = Rig::new(kind, "{ keep_last = 2 }", seed.value) else {
        return;
    };
    let s = &rig.scratch;
    // An older backup every kill must leave intact; its size and time set the kill points.
    let started = Instant::now();
    s.run(&["backup", "big"]).expect_code(0, "the first backup");
    let full = started.elapsed();
    let stored = s.list(&[])[0]["stored_bytes"]
        .as_u64()
        .expect("stored_bytes");
    let mut tally = Tally::default();
    for point in 0..runs(SHORT_RUNS) {
        let before = s.ids(&[]);
        let kill_at = KillAt::pick(&mut rng, stored, full);
        let base = rig.uploaded();
        let (ended, stderr) = s.run_and_kill(&["backup", "big"], |elapsed| {
            kill_at.due(elapsed, rig.uploaded().saturating_sub(base))
        });
        let uploaded = rig.uploaded().saturating_sub(base);
        let context = format!("{kind} backup kill point {point} ({kill_at:?}, {uploaded} B out)");
        let listed = s.list(&[]);
        let now = ids(&listed);
        for id in &before {
            assert!(now.contains(id), "{context}: the older backup {id} is gone");
        }
        let new = now.iter().filter(|id| !before.contains(id)).count();
        assert!(new <= 1, "{context}: {new} new backups listed");
        match ended {
            Killed::Finished(status) => {
                assert_eq!(status.code(), Some(0), "{context}: {stderr}");
                assert_eq!(new, 1, "{context}: a finished backup is not listed");
                tally.finished += 1;
            }
            Killed::Killed if new == 1 => tally.after += 1,
            Killed::Killed if uploaded == 0 => tally.before += 1,
            Killed::Killed => tally.mid_stream += 1,
        }
        // Whatever is listed is whole: the killed run's partial data never is.
        s.verify_all(&listed);
        let stale = rig.locked("big");
        let next = s.run(&["backup", "big"]);
        next.expect_code(0, &format!("{context}: the next backup"));
        if stale {
            assert!(
                next.stderr.contains("taking over"),
                "{context}: the stale lock was not taken over: {}",
                next.stderr
            );
            tally.locks_taken_over += 1;
        }
        assert_eq!(s.ids(&[]).len(), listed.len() + 1, "{context}");
        s.run(&["prune", "big"])
            .expect_code(0, &format!("{context}: prune"));
    }
    let (left_before, left_after) = collect_leftovers(&rig);
    summary(&format!(
        "{test}: {}; leftovers before the prune past the grace: {}; after it: {} (seed {})",
        tally.line(),
        left_before.line(),
        left_after.line(),
        seed.value
    ));
    assert!(
        left_after.is_empty(),
        "{kind}: leftovers after a prune past the grace: {left_after:?}"
    );
}

/// The leftover grace the final prune runs with, as a config table: short, so that the
/// killed runs' leftovers are all past it.
const SHORT_GRACE: &str = "\n[prune]\nleftover_grace = \"1s\"\n";

/// A prune once the leftover grace has passed: the leftovers before and after it.
fn collect_leftovers(rig: &Rig) -> (crate::harness::Leftovers, crate::harness::Leftovers) {
    let s = &rig.scratch;
    let before = rig.leftovers(&s.list(&[]));
    if rig.kind == Kind::Fs {
        // Past the default grace too (README, "Commands": leftovers older than 24 h).
        age_tree(&s.join("backups"), Duration::from_secs(49 * 3600));
    }
    let config = std::fs::read_to_string(s.join("lifeboat.toml")).expect("the config");
    s.write_config(&format!("{config}{SHORT_GRACE}"));
    // Older than the short grace, whatever their kind.
    std::thread::sleep(Duration::from_millis(1500));
    let mut ran = s.run(&["prune"]);
    if ran.code == Some(2) && ran.stderr.contains("prune") {
        // A build without a configurable grace: the aged times above stand in for it.
        summary(&format!(
            "{} prune: no `[prune] leftover_grace` in this build, using the default grace",
            rig.kind
        ));
        s.write_config(&config);
        ran = s.run(&["prune"]);
    }
    ran.expect_code(0, "the prune past the grace");
    let after = rig.leftovers(&s.list(&[]));
    (before, after)
}

#[test]
fn backup_killed_at_random_points_on_fs() {
    backup_kill_points(Kind::Fs, "backup_killed_at_random_points_on_fs");
}

#[test]
fn backup_killed_at_random_points_on_s3() {
    backup_kill_points(Kind::S3, "backup_killed_at_random_points_on_s3");
}

fn prune_kill_points(kind: Kind, test: &'static str) {
    let (seed, mut rng) = Seed::new(test);
    let Some(rig) = Rig::new(kind, "{ keep_last = 1 }", seed.value) else {
        return;
    };
    let s = &rig.scratch;
    s.run(&["backup", "small"])
        .expect_code(0, "a backup to prune");
    let mut tally = Tally::default();
    let mut full = None;
    for point in 0..runs(SHORT_RUNS) {
        while s.ids(&["small"]).len() < 6 {
            s.run(&["backup", "small"])
                .expect_code(0, "a backup to prune");
        }
        let full = *full.get_or_insert_with(|| {
            let started = Instant::now();
            s.run(&["prune", "small", "--dry-run"])
                .expect_code(0, "prune --dry-run");
            started.elapsed()
        });
        let before = s.ids(&["small"]);
        let newest = before[0].clone();
        // Half the points a time into the run, half just after the lock is taken: on fs the
        // removals take milliseconds, after a start-up that takes most of the run.
        let after_delay = rng.gen_range(Duration::ZERO..full * 3 / 2 + Duration::from_millis(1));
        let after_lock = rng
            .gen_bool(0.5)
            .then(|| Duration::from_micros(rng.gen_range(0..3000)));
        let mut locked_at = None;
        let (ended, stderr) = s.run_and_kill(&["prune", "small"], |elapsed| match after_lock {
            Some(extra) => {
                if locked_at.is_none() && rig.locked("small") {
                    locked_at = Some(elapsed);
                }
                locked_at.is_some_and(|at| elapsed >= at + extra)
            }
            None => elapsed >= after_delay,
        });
        let context = match after_lock {
            Some(extra) => format!("{kind} prune kill point {point} ({extra:?} after the lock)"),
            None => format!("{kind} prune kill point {point} (after {after_delay:?})"),
        };
        let listed = s.list(&["small"]);
        let now = ids(&listed);
        assert!(
            now.iter().all(|id| before.contains(id)),
            "{context}: {now:?} not within {before:?}"
        );
        assert!(
            now.contains(&newest),
            "{context}: the newest backup is gone"
        );
        // A backup is removed manifest first: what is still listed still has its data.
        s.verify_all(&listed);
        let stale = rig.locked("small");
        match ended {
            Killed::Finished(status) => {
                assert_eq!(status.code(), Some(0), "{context}: {stderr}");
                tally.finished += 1;
            }
            Killed::Killed if now.len() == 1 => tally.after += 1,
            Killed::Killed if now.len() == before.len() && !stale => tally.before += 1,
            Killed::Killed => tally.mid_stream += 1,
        }
        let next = s.run(&["prune", "small"]);
        next.expect_code(0, &format!("{context}: the next prune"));
        if stale {
            assert!(
                next.stderr.contains("taking over"),
                "{context}: the stale lock was not taken over: {}",
                next.stderr
            );
            tally.locks_taken_over += 1;
        }
        assert_eq!(s.ids(&["small"]), vec![newest], "{context}: keep_last = 1");
    }
    summary(&format!("{test}: {} (seed {})", tally.line(), seed.value));
}

#[test]
fn prune_killed_at_random_points_on_fs() {
    prune_kill_points(Kind::Fs, "prune_killed_at_random_points_on_fs");
}

#[test]
fn prune_killed_at_random_points_on_s3() {
    prune_kill_points(Kind::S3, "prune_killed_at_random_points_on_s3");
}

fn restore_kill_points(kind: Kind, test: &'static str) {
    let (seed, mut rng) = Seed::new(test);
    let Some(rig) = Rig::new(kind, "{ keep_last = 2 }", seed.value) else {
        return;
    };
    let s = &rig.scratch;
    s.run(&["backup", "big"])
        .expect_code(0, "the backup to restore");
    let raw = s.list(&[])[0]["raw_bytes"].as_u64().expect("raw_bytes");
    std::fs::create_dir(s.join("restores")).expect("a restores folder");
    // An uninterrupted restore: what every complete one must look like.
    let started = Instant::now();
    s.run(&["restore", "big", "--to", "restores/reference"])
        .expect_code(0, "the reference restore");
    let full = started.elapsed();
    let expected = tree(&s.join("restores/reference"));
    assert_eq!(
        tree(&s.join("restores/reference/data")),
        tree(&s.join("data")),
        "the restore is not the source"
    );
    std::fs::remove_dir_all(s.join("restores/reference")).expect("removing the reference");
    let mut tally = Tally::default();
    let mut staging_left = 0u64;
    for point in 0..runs(SHORT_RUNS) {
        let name = format!("t{point}");
        let target = s.join(&format!("restores/{name}"));
        let existing = rng.gen_bool(0.5);
        let old = existing.then(|| {
            write_noise(
                &target.join("old/keep.bin"),
                50_000,
                seed.value ^ point as u64,
            );
            tree(&target)
        });
        let to = format!("restores/{name}");
        let mut args = vec!["restore", "big", "--to", to.as_str()];
        if existing {
            args.push("--force");
        }
        let kill_at = KillAt::pick(&mut rng, raw, full);
        let base = dir_bytes(&s.join("restores"));
        let (ended, stderr) = s.run_and_kill(&args, |elapsed| {
            kill_at.due(elapsed, dir_bytes(&s.join("restores")).saturating_sub(base))
        });
        let context = format!(
            "{kind} restore kill point {point} ({kill_at:?}, {} target)",
            if existing { "existing" } else { "new" }
        );
        // The target is what it was, or absent, or complete; never something in between.
        let state = target.exists().then(|| tree(&target));
        let complete = state.as_ref() == Some(&expected);
        match &state {
            None => {}
            Some(found) if Some(found) == old.as_ref() || complete => {}
            Some(found) => panic!(
                "{context}: the target is half-restored: {} entries, {} expected",
                found.len(),
                expected.len()
            ),
        }
        // Anything else beside it is a staging folder named as such.
        for entry in std::fs::read_dir(s.join("restores")).expect("the restores folder") {
            let entry_name = entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if entry_name.starts_with('t') {
                continue;
            }
            assert!(
                entry_name.starts_with(".t") && entry_name.contains(".lifeboat-"),
                "{context}: {entry_name} beside the target"
            );
        }
        match ended {
            Killed::Finished(status) => {
                assert_eq!(status.code(), Some(0), "{context}: {stderr}");
                assert!(complete, "{context}: a finished restore is incomplete");
                tally.finished += 1;
            }
            Killed::Killed if complete => tally.after += 1,
            Killed::Killed if dir_bytes(&s.join("restores")) > base => tally.mid_stream += 1,
            Killed::Killed => tally.before += 1,
        }
        s.run(&["verify", "big"])
            .expect_code(0, &format!("{context}: verify"));
        let stale = rig.locked("big");
        let mut again = vec!["restore", "big", "--to", to.as_str()];
        if target.exists() {
            again.push("--force");
        }
        let next = s.run(&again);
        next.expect_code(0, &format!("{context}: the next restore"));
        if stale {
            assert!(
                next.stderr.contains("taking over"),
                "{context}: the stale lock was not taken over: {}",
                next.stderr
            );
            tally.locks_taken_over += 1;
        }
        assert_eq!(tree(&target), expected, "{context}: the next restore");
        std::fs::remove_dir_all(&target).expect("removing the target");
        staging_left = dir_bytes(&s.join("restores"));
    }
    summary(&format!(
        "{test}: {}; {} B of restore staging left beside the targets (seed {})",
        tally.line(),
        staging_left,
        seed.value
    ));
}

#[test]
fn restore_killed_at_random_points_on_fs() {
    restore_kill_points(Kind::Fs, "restore_killed_at_random_points_on_fs");
}

#[test]
fn restore_killed_at_random_points_on_s3() {
    restore_kill_points(Kind::S3, "restore_killed_at_random_points_on_s3");
}
