//! `init` and `keygen` write what they promise and never overwrite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::lifeboat;
use predicates::str::contains;

#[test]
fn init_writes_a_valid_config_once() {
    let dir = tempfile::tempdir().unwrap();
    lifeboat(dir.path()).arg("init").assert().success();
    let written = std::fs::read_to_string(dir.path().join("lifeboat.toml")).unwrap();
    assert!(written.contains("[storage.local]"));
    // The template parses; `list` says the storage does not exist yet (and creates nothing).
    lifeboat(dir.path())
        .arg("list")
        .assert()
        .code(1)
        .stderr(contains("does not exist"));
    assert!(!dir.path().join("backups").exists());
    std::fs::write(dir.path().join("lifeboat.toml"), "mine").unwrap();
    lifeboat(dir.path())
        .arg("init")
        .assert()
        .code(2)
        .stderr(contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lifeboat.toml")).unwrap(),
        "mine"
    );
}

#[test]
fn keygen_writes_a_private_key_and_prints_the_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let out = lifeboat(dir.path())
        .args(["keygen", "--output", "k.txt"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let recipient = String::from_utf8(out.stdout).unwrap();
    assert!(recipient.trim().starts_with("age1"), "{recipient}");
    assert!(
        !recipient.contains("AGE-SECRET-KEY"),
        "the secret went to stdout"
    );
    let path = dir.path().join("k.txt");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let key = std::fs::read_to_string(&path).unwrap();
    assert!(key.contains("AGE-SECRET-KEY-1") && key.contains(recipient.trim()));
    lifeboat(dir.path())
        .args(["keygen", "--output", "k.txt"])
        .assert()
        .code(2)
        .stderr(contains("never overwrites"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key);
}

#[test]
fn check_reports_a_key_that_matches_no_recipient() {
    let dir = tempfile::tempdir().unwrap();
    common::make_db(&dir.path().join("a.db"), 5);
    let out = lifeboat(dir.path())
        .args(["keygen", "--output", "k1.txt"])
        .output()
        .unwrap();
    let recipient = String::from_utf8(out.stdout).unwrap().trim().to_string();
    lifeboat(dir.path())
        .args(["keygen", "--output", "k2.txt"])
        .assert()
        .success();
    common::write_config(
        dir.path(),
        &format!("[encryption]\nrecipients = [\"{recipient}\"]\nidentity_file = \"k2.txt\"\n\n[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a.db\"\n"),
    );
    lifeboat(dir.path())
        .arg("check")
        .assert()
        .code(1)
        .stdout(contains("matches none of the recipients"));
}

#[test]
fn an_identity_file_others_can_read_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = lifeboat(dir.path())
        .args(["keygen", "--output", "k.txt"])
        .output()
        .unwrap();
    let recipient = String::from_utf8(out.stdout).unwrap().trim().to_string();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::create_dir(dir.path().join("backups")).unwrap();
    common::write_config(
        dir.path(),
        &format!(
            "[encryption]\nrecipients = [\"{recipient}\"]\nidentity_file = \"./k.txt\"\n\n\
             [[sources]]\nname = \"cfg\"\nkind = \"files\"\npaths = [\"./data\"]\n"
        ),
    );
    let key = dir.path().join("k.txt");
    let check = || lifeboat(dir.path()).arg("check").output().unwrap();
    let quiet = check();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&quiet.stdout),
        String::from_utf8_lossy(&quiet.stderr),
    );
    assert!(quiet.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("chmod 600") && !stderr.contains("chmod 600"));

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loud = check();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&loud.stdout),
        String::from_utf8_lossy(&loud.stderr),
    );
    // A warning, not a failure: the key works, it is only too open.
    assert!(loud.status.success(), "{stdout}{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.contains("mode 0644"))
        .unwrap_or_else(|| panic!("no warning in the report:\n{stdout}"));
    assert!(row.contains("WARN") && row.contains("k.txt"), "{row}");
    // The log names the file and its mode, never the key.
    assert!(
        stderr.contains("group or others") && stderr.contains("0644"),
        "{stderr}"
    );
    let secret = std::fs::read_to_string(&key).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET"))
        .unwrap();
    assert!(!stderr.contains(secret) && !stdout.contains(secret));
}
