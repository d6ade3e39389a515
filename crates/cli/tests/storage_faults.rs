//! Storages that hang, refuse writes, collide or refuse requests, through the binary:
//! - an S3 storage whose endpoint accepts connections and never answers is dropped (short
//!   timeouts here, so this takes seconds): exit 3, and the fs storage holds a complete,
//!   listed backup that verifies;
//! - `check` fails a storage that can be listed but not written;
//! - two storages in the same place are a config error (exit 2) naming both;
//! - a refusal of the S3 server is one short line, never a header dump.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use common::{lifeboat, make_db};
use lifeboat_testing::BlackHole;

/// The combined output of a run, and its exit code.
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = lifeboat(dir).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_black_holed_s3_storage_is_dropped_and_the_fs_backup_is_complete_and_verifies() {
    let hole = BlackHole::start();
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"), 2_000);
    std::fs::write(
        dir.path().join("lifeboat.toml"),
        format!(
            "[storage.local]\nkind = \"fs\"\nroot = \"./backups\"\n\n\
             [storage.offsite]\nkind = \"s3\"\nbucket = \"backups\"\nendpoint = \"{}\"\n\
             access_key_id = \"AKIAHOLE\"\nsecret_access_key = \"hole-secret\"\n\
             timeout = \"1s\"\nio_timeout = \"1s\"\nretries = 1\n\n\
             [[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n\
             storage = [\"local\", \"offsite\"]\n",
            hole.url()
        ),
    )
    .unwrap();

    let (code, out) = run(dir.path(), &["backup"]);
    assert_eq!(code, 3, "a storage missed the backup: partial\n{out}");
    assert!(out.contains("offsite"), "{out}");
    assert!(
        !out.contains("hole-secret") && !out.contains("headers"),
        "{out}"
    );
    assert!(
        hole.accepted() > 0,
        "the S3 storage never reached the black hole"
    );

    let listed = common::list_json(dir.path(), &["app", "--storage", "local"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let manifests: Vec<PathBuf> = walk(&dir.path().join("backups/app"))
        .into_iter()
        .filter(|p| p.ends_with("manifest.json"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");

    let (code, out) = run(dir.path(), &["verify", "app", "--storage", "local"]);
    assert_eq!(code, 0, "{out}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A folder made read-only in a way root respects too (tests run as root, who ignores mode
/// bits): a read-only bind mount of itself (`EROFS`, what a backup disk mounted `ro` gives);
/// where mounting is not allowed, the immutable attribute (`chattr +i`, `EPERM` even for
/// root); as a non-root user, mode 0555 is enough. Undone on drop.
struct ReadOnly {
    path: PathBuf,
    undo: Option<(&'static str, Vec<String>)>,
}

impl ReadOnly {
    fn make(path: &Path) -> Self {
        let shown = path.display().to_string();
        let ok = |program: &str, args: &[&str]| {
            StdCommand::new(program)
                .args(args)
                .output()
                .is_ok_and(|out| out.status.success())
        };
        let undo = if ok("mount", &["--bind", &shown, &shown]) {
            if ok("mount", &["-o", "remount,ro,bind", &shown]) {
                Some(("umount", vec![shown.clone()]))
            } else {
                ok("umount", &[&shown]);
                None
            }
        } else {
            None
        };
        let undo = undo.or_else(|| {
            ok("chattr", &["+i", &shown]).then(|| ("chattr", vec!["-i".into(), shown.clone()]))
        });
        let undo = undo.or_else(|| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o555)).unwrap();
            None
        });
        let probe = path.join(".probe");
        assert!(
            std::fs::write(&probe, b"x").is_err(),
            "could not make {shown} read-only (no mount, no chattr, and running as root)"
        );
        Self {
            path: path.to_owned(),
            undo,
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if let Some((program, args)) = &self.undo {
            let _ = StdCommand::new(program).args(args).status();
        }
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o700));
    }
}

#[test]
fn check_fails_a_storage_that_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("backups")).unwrap();
    std::fs::write(
        dir.path().join("lifeboat.toml"),
        "[storage.local]\nkind = \"fs\"\nroot = \"./backups\"\n",
    )
    .unwrap();
    let (code, out) = run(dir.path(), &["check"]);
    assert_eq!(code, 0, "a writable storage is ok\n{out}");
    assert_eq!(
        walk(&dir.path().join("backups")),
        Vec::<PathBuf>::new(),
        "the probe stays"
    );

    let read_only = ReadOnly::make(&dir.path().join("backups"));
    let (code, out) = run(dir.path(), &["check"]);
    drop(read_only);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(out.contains("cannot be written"), "{out}");
}

#[test]
fn two_storages_in_the_same_place_are_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lifeboat.toml"),
        "[storage.local]\nkind = \"fs\"\nroot = \"./backups\"\n\n\
         [storage.mirror]\nkind = \"fs\"\nroot = \"backups/\"\n\n\
         [[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"app.db\"\n\
         storage = [\"local\", \"mirror\"]\n",
    )
    .unwrap();
    for verb in [&["check"][..], &["backup"]] {
        let (code, out) = run(dir.path(), verb);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("`local`") && out.contains("`mirror`"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_of_the_s3_server_is_one_short_line() {
    let endpoint = std::env::var("LIFEBOAT_TEST_S3_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:9000".into());
    if let Err(err) = reqwest::Client::new().get(&endpoint).send().await {
        lifeboat_testing::service_unavailable(format_args!(
            "S3 server at {endpoint} unreachable ({err})"
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lifeboat.toml"),
        format!(
            "[storage.offsite]\nkind = \"s3\"\nbucket = \"lifeboat-missing-{:08x}\"\n\
             endpoint = \"{endpoint}\"\naccess_key_id = \"AKIAMISSING\"\n\
             secret_access_key = \"missing-secret\"\n",
            rand::random::<u32>()
        ),
    )
    .unwrap();
    let (code, out) = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || run(&dir, &["check"])
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("HTTP 404") && out.contains("NoSuchBucket"),
        "{out}"
    );
    for dump in ["headers", "x-amz", "Parts {", "missing-secret"] {
        assert!(!out.contains(dump), "`{dump}` in:\n{out}");
    }
}
