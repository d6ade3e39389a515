//! A storage disk that fills up mid-backup, and one that is read-only, both as small tmpfs
//! mounts (root only; without root they are skipped, or fail under
//! `LIFEBOAT_REQUIRE_SERVICES=1`). README, "What a backup is" and "Exit codes": the backup
//! fails (exit 1) with the disk's error, nothing partial is listed, the older backups still
//! verify (and restore: a read-only backup disk works), and once the disk is writable with
//! room again the next backup succeeds.

use std::time::Duration;

use crate::harness::{age_tree, fs_leftovers, write_noise, Scratch, Tmpfs};
use crate::kill_points::summary;

/// The exit code of a backup that reached no storage.
const FAILED: i32 = 1;

/// A scratch folder whose only storage is `<mount>/backups`, with `small` (48 KiB) and
/// `big` (8 MiB of noise) sources.
fn scratch_on(mount: &Tmpfs) -> Scratch {
    let scratch = Scratch::new();
    scratch.write_config(&format!(
        "[storage.disk]\nkind = \"fs\"\nroot = \"{}/backups\"\n\n\
         [compression]\nalgorithm = \"zstd\"\nlevel = 1\nworkers = 0\n\n\
         [[sources]]\nname = \"small\"\nkind = \"files\"\npaths = [\"little\"]\n\n\
         [[sources]]\nname = \"big\"\nkind = \"files\"\npaths = [\"data\"]\n",
        mount.path.display()
    ));
    write_noise(&scratch.join("little/a.bin"), 48 * 1024, 0x11);
    write_noise(&scratch.join("data/big.bin"), 8 << 20, 0x22);
    scratch
}

#[test]
fn a_full_disk_fails_the_backup_and_keeps_the_older_ones() {
    let Some(mount) = Tmpfs::mount("16m") else {
        return;
    };
    let s = scratch_on(&mount);
    s.run(&["backup", "small"])
        .expect_code(0, "the older backup");
    // 10 MiB taken: the 8 MiB backup runs out of room midway.
    let filler = mount.path.join("filler.bin");
    write_noise(&filler, 10 << 20, 0x33);
    let ran = s.run(&["backup", "big"]);
    ran.expect_code(FAILED, "a backup onto a full disk");
    assert!(
        ran.stderr.contains("No space left on device"),
        "the error does not say the disk is full: {}",
        ran.stderr
    );
    let listed = s.list(&[]);
    assert_eq!(listed.len(), 1, "a partial backup is listed: {listed:?}");
    assert_eq!(listed[0]["source"], "small");
    s.verify_all(&listed);
    let root = mount.path.join("backups");
    let left = fs_leftovers(&root, &listed);

    std::fs::remove_file(&filler).expect("freeing the disk");
    s.run(&["backup", "big"])
        .expect_code(0, "the backup once there is room");
    let listed = s.list(&[]);
    assert_eq!(listed.len(), 2);
    s.verify_all(&listed);
    age_tree(&root, Duration::from_secs(49 * 3600));
    s.run(&["prune"]).expect_code(0, "prune");
    let after_prune = fs_leftovers(&root, &s.list(&[]));
    summary(&format!(
        "a_full_disk_fails_the_backup_and_keeps_the_older_ones: 1 ENOSPC injected, exit {:?}; left by the failed run: {}; after a prune past the grace: {}",
        ran.code,
        left.line(),
        after_prune.line()
    ));
    assert!(
        after_prune.is_empty(),
        "leftovers after the prune: {after_prune:?}"
    );
}

#[test]
fn a_read_only_disk_fails_the_backup_and_still_restores() {
    let Some(mount) = Tmpfs::mount("16m") else {
        return;
    };
    let s = scratch_on(&mount);
    s.run(&["backup", "small"])
        .expect_code(0, "the older backup");
    mount.set_read_only(true);
    let ran = s.run(&["backup", "small"]);
    ran.expect_code(FAILED, "a backup onto a read-only disk");
    assert!(
        ran.stderr.contains("Read-only file system"),
        "the error does not say the disk is read-only: {}",
        ran.stderr
    );
    // Reading needs no write (README, "What a backup is").
    let listed = s.list(&[]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    s.verify_all(&listed);
    s.run(&["restore", "small", "--to", "restored"])
        .expect_code(0, "a restore from a read-only disk");
    assert_eq!(
        crate::harness::tree(&s.join("restored/little")),
        crate::harness::tree(&s.join("little"))
    );
    mount.set_read_only(false);
    s.run(&["backup", "small"])
        .expect_code(0, "the backup once the disk is writable");
    assert_eq!(s.list(&[]).len(), 2);
    summary(&format!(
        "a_read_only_disk_fails_the_backup_and_still_restores: 1 read-only storage injected, backup exit {:?}, list/verify/restore exit 0",
        ran.code
    ));
}
