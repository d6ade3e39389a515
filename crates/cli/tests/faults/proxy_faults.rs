//! An S3 storage that refuses, resets, stalls or slows (through the fault proxy), beside a
//! healthy fs storage. README, "What a backup is": a storage that fails does not lose the
//! backup in the others, and "Exit codes": the run is `partial` (exit 3) when the fs storage
//! has it; a source whose only storage is the failing S3 fails (exit 1) with nothing listed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lifeboat_testing::{Fault, FaultProxy};

use crate::harness::{runtime, s3_addr, write_noise, Bucket, Scratch};
use crate::kill_points::summary;

/// The exit code of a run whose backup reached some storages and missed others.
const PARTIAL: i32 = 3;

/// The exit code of a backup that reached no storage.
const FAILED: i32 = 1;

/// Short storage timeouts for the stall case, as keys of the S3 `[storage.NAME]` table
/// (README, "Configuration"): a storage that stops answering is dropped after these.
const SHORT_STORAGE_TIMEOUTS: &str = "timeout = \"2s\"\nio_timeout = \"3s\"\nretries = 1\n";

/// How long a stalled storage may hold a backup up, with the short timeouts above, before
/// the test calls it hung (README: with default settings a hung storage is dropped within
/// 120 s).
const STALL_GUARD: Duration = Duration::from_secs(150);

/// Two storages, `local` (fs) and `offsite` (S3 behind a proxy), and two sources of 4 MiB:
/// `app` in both, `solo` in `offsite` only.
struct ProxyRig {
    scratch: Scratch,
    proxy: FaultProxy,
    bucket: Bucket,
}

impl ProxyRig {
    fn new(storage_extra: &str) -> Option<ProxyRig> {
        let bucket = Bucket::create("lifeboat-proxy")?;
        let proxy = runtime()
            .block_on(FaultProxy::start(s3_addr()))
            .expect("starting the fault proxy");
        let scratch = Scratch::new();
        scratch.write_config(&format!(
            "[storage.local]\nkind = \"fs\"\nroot = \"./backups\"\n\n[storage.offsite]\n{}{storage_extra}\n\
             [compression]\nalgorithm = \"zstd\"\nlevel = 1\nworkers = 0\n\n\
             [[sources]]\nname = \"app\"\nkind = \"files\"\npaths = [\"data\"]\nstorage = [\"local\", \"offsite\"]\n\n\
             [[sources]]\nname = \"solo\"\nkind = \"files\"\npaths = [\"data\"]\nstorage = [\"offsite\"]\n",
            bucket.storage_toml(&proxy.url())
        ));
        write_noise(&scratch.join("data/app.bin"), 4 << 20, 0x5eed);
        Some(ProxyRig {
            scratch,
            proxy,
            bucket,
        })
    }

    /// The ids of `source` in `storage`, read with the proxy passing (then back to `fault`).
    fn ids_in(&self, source: &str, storage: &str) -> Vec<String> {
        let fault = self.proxy.fault();
        self.proxy.set(Fault::Pass);
        let ids = self.scratch.ids(&[source, "--storage", storage]);
        self.proxy.set(fault);
        ids
    }

    /// Everything a failing S3 storage must leave as it was: an older backup in both
    /// storages before, and after the fault the fs copy listed and verified, no copy in S3,
    /// no open multipart upload, and a source in S3 alone failed with nothing listed. Then
    /// the next run, with the fault lifted, succeeds in both.
    fn check_partial(&self, what: &str, ran: &crate::harness::Ran, solo: &crate::harness::Ran) {
        let s = &self.scratch;
        assert!(ran.stdout.contains("partial"), "{what}: {}", ran.stdout);
        self.proxy.set(Fault::Pass);
        let local = s.ids(&["app", "--storage", "local"]);
        let offsite = s.ids(&["app", "--storage", "offsite"]);
        assert_eq!(local.len(), 2, "{what}: the fs storage misses the backup");
        assert_eq!(offsite.len(), 1, "{what}: S3 lists {offsite:?}");
        assert_eq!(offsite[0], local[1], "{what}: the older backup left S3");
        assert!(
            s.ids(&["solo"]).is_empty(),
            "{what}: the S3-only source lists a backup"
        );
        assert_eq!(
            self.bucket.uploads(),
            Vec::new(),
            "{what}: the failed upload was not aborted"
        );
        let listed = s.list(&[]);
        s.verify_all(&listed);
        s.run(&["backup"])
            .expect_code(0, &format!("{what}: the next backup"));
        assert_eq!(s.ids(&["app", "--storage", "offsite"]).len(), 2, "{what}");
        assert_eq!(s.ids(&["solo"]).len(), 1, "{what}");
        // The exit codes last, so that a wrong one does not hide the checks above.
        solo.expect_code(
            FAILED,
            &format!("{what}: backup to the failing S3 storage alone"),
        );
        ran.expect_code(
            PARTIAL,
            &format!("{what}: backup with a failing S3 storage"),
        );
    }
}

#[test]
fn a_refusing_s3_storage_makes_a_partial_backup() {
    let Some(rig) = ProxyRig::new("") else {
        return;
    };
    let s = &rig.scratch;
    s.run(&["backup", "app"]).expect_code(0, "the older backup");
    rig.proxy.set(Fault::Refuse);
    let ran = s.run(&["backup", "app"]);
    let solo = s.run(&["backup", "solo"]);
    let stats = rig.proxy.stats();
    assert!(stats.refused > 0, "{stats:?}");
    summary(&format!(
        "a_refusing_s3_storage_makes_a_partial_backup: {} connections refused, {} reset; exit {:?} (both storages) and {:?} (S3 alone)",
        stats.refused, stats.resets, ran.code, solo.code
    ));
    rig.check_partial("refuse", &ran, &solo);
}

#[test]
fn an_s3_upload_reset_midway_makes_a_partial_backup() {
    let Some(rig) = ProxyRig::new("") else {
        return;
    };
    let s = &rig.scratch;
    s.run(&["backup", "app"]).expect_code(0, "the older backup");
    // Locks and manifests are small and pass; the 4 MiB upload is cut on every attempt.
    rig.proxy.set(Fault::Reset {
        after_bytes: 256 * 1024,
    });
    let ran = s.run(&["backup", "app"]);
    let solo = s.run(&["backup", "solo"]);
    let stats = rig.proxy.stats();
    assert!(stats.resets > 0, "{stats:?}");
    summary(&format!(
        "an_s3_upload_reset_midway_makes_a_partial_backup: {} connections reset mid-upload; exit {:?} (both storages) and {:?} (S3 alone)",
        stats.resets, ran.code, solo.code
    ));
    rig.check_partial("reset", &ran, &solo);
}

#[test]
fn a_stalled_s3_storage_is_dropped_and_the_backup_is_partial() {
    let Some(rig) = ProxyRig::new(SHORT_STORAGE_TIMEOUTS) else {
        return;
    };
    let s = &rig.scratch;
    s.run(&["backup", "app"]).expect_code(0, "the older backup");
    let stall_mid_upload = |args: &[&str]| {
        // Passing at first (the lock is taken), stalled once the upload is under way.
        rig.proxy.set(Fault::Pass);
        let base = rig.proxy.stats().bytes_up;
        let proxy = &rig.proxy;
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let watcher = scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    if proxy.stats().bytes_up >= base + 512 * 1024 {
                        proxy.set(Fault::Stall);
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                false
            });
            let ran = s.run_guarded(args, STALL_GUARD);
            done.store(true, Ordering::Relaxed);
            let stalled = watcher.join().expect("the watcher");
            assert!(stalled, "the upload never got under way: {}", ran.stderr);
            ran
        })
    };
    let ran = stall_mid_upload(&["backup", "app"]);
    let solo = stall_mid_upload(&["backup", "solo"]);
    let stats = rig.proxy.stats();
    summary(&format!(
        "a_stalled_s3_storage_is_dropped_and_the_backup_is_partial: {} stalled connections; exit {:?} (both storages) and {:?} (S3 alone)",
        stats.stalls, ran.code, solo.code
    ));
    rig.check_partial("stall", &ran, &solo);
}

#[test]
fn a_slow_s3_storage_slows_the_backup_down_and_gets_it() {
    let Some(rig) = ProxyRig::new("") else {
        return;
    };
    let s = &rig.scratch;
    rig.proxy.set(Fault::Slow {
        bytes_per_sec: 2 << 20,
    });
    let ran = s.run(&["backup", "app"]);
    ran.expect_code(0, "a backup to a slow storage");
    let stats = rig.proxy.stats();
    let listed = s.list(&["app"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["storages"],
        serde_json::json!(["local", "offsite"]),
        "{}",
        ran.stdout
    );
    let stored = listed[0]["stored_bytes"].as_u64().expect("stored_bytes");
    assert!(stats.throttled_bytes >= stored, "{stats:?}");
    assert_eq!(rig.ids_in("app", "offsite").len(), 1);
    s.run(&["verify", "app", "--storage", "offsite"])
        .expect_code(0, "verify through the slow storage");
    summary(&format!(
        "a_slow_s3_storage_slows_the_backup_down_and_gets_it: {} B throttled at 2 MiB/s, backup and verify exit 0",
        rig.proxy.stats().throttled_bytes
    ));
}
