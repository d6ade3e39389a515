//! The README's quickstart and its first set-up command work exactly as written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{copy_dir, db_fingerprint, lifeboat, repo_root};

/// The shell lines of the README block between the quickstart markers.
fn quickstart_lines(readme: &str) -> Vec<String> {
    let begin = readme
        .find("<!-- quickstart:begin -->")
        .expect("begin marker");
    let end = readme.find("<!-- quickstart:end -->").expect("end marker");
    readme[begin..end]
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("```") && !l.starts_with("<!--") && !l.starts_with('#')
        })
        .map(String::from)
        .collect()
}

/// Runs one README line in `dir`: `export` sets a variable, `cargo build` is what the test
/// harness already did, `target/release/lifeboat ...` and `cargo run ... --` run the binary.
fn run_line(dir: &Path, env: &[(String, String)], line: &str) -> assert_cmd::assert::Assert {
    let words: Vec<&str> = line.split_whitespace().collect();
    let args: &[&str] = match words.as_slice() {
        ["target/release/lifeboat", rest @ ..] => rest,
        ["cargo", "run", ..] => {
            let dashes = words
                .iter()
                .position(|w| *w == "--")
                .expect("cargo run ... --");
            &words[dashes + 1..]
        }
        other => {
            panic!("the README quickstart has a line this test does not understand: {other:?}")
        }
    };
    let mut cmd = lifeboat(dir);
    for (key, value) in env.iter() {
        cmd.env(key, value);
    }
    cmd.args(args).assert()
}

#[test]
fn readme_quickstart_works_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let quickstart = work.path().join("examples/quickstart");
    copy_dir(
        &repo_root().join("examples/quickstart/data"),
        &quickstart.join("data"),
    );
    copy_dir(
        &repo_root().join("examples/quickstart/config"),
        &quickstart.join("config"),
    );
    std::fs::copy(
        repo_root().join("examples/quickstart/lifeboat.toml"),
        quickstart.join("lifeboat.toml"),
    )
    .unwrap();

    // The first of the two set-up commands.
    let setup = readme
        .lines()
        .find(|l| l.starts_with("cargo run --release -p lifeboat-cli --"))
        .expect("the set-up command in the README");
    run_line(work.path(), &[], setup).success();

    let mut env = Vec::new();
    for line in quickstart_lines(&readme) {
        if line.starts_with("cargo build") {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("export ") {
            let (key, value) = assignment.split_once('=').unwrap();
            env.push((key.to_string(), value.to_string()));
            continue;
        }
        run_line(work.path(), &env, &line).success();
    }

    // Two backups per source now exist (set-up command + quickstart), newest first.
    let mut env_dir = lifeboat(work.path());
    env_dir.env("LIFEBOAT_CONFIG", "examples/quickstart/lifeboat.toml");
    let out = env_dir.args(["list", "--json"]).output().unwrap();
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let count = |source: &str| listed.iter().filter(|b| b["source"] == source).count();
    assert_eq!((count("app"), count("config")), (2, 2), "{listed:?}");
    assert!(listed[0]["started_at"].as_str().unwrap() > listed[1]["started_at"].as_str().unwrap());
    let restored = quickstart.join("restored");
    assert_eq!(
        db_fingerprint(&restored.join("app.db")),
        db_fingerprint(&quickstart.join("data/app.db"))
    );
    for file in ["app.toml", "nginx/site.conf", "certs/app.example.com.pem"] {
        assert_eq!(
            std::fs::read(restored.join("files/config").join(file)).unwrap(),
            std::fs::read(quickstart.join("config").join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(
        !restored.join("files/config/session.tmp").exists(),
        "excluded file was backed up"
    );

    // Restoring again is refused without --force, and changes nothing.
    let before = std::fs::read(restored.join("app.db")).unwrap();
    run_line(
        work.path(),
        &env,
        "target/release/lifeboat restore app --to examples/quickstart/restored/app.db",
    )
    .code(1)
    .stderr(predicates::str::contains("--force"));
    assert_eq!(std::fs::read(restored.join("app.db")).unwrap(), before);
    run_line(
        work.path(),
        &env,
        "target/release/lifeboat restore app --to examples/quickstart/restored/app.db --force",
    )
    .success();
}
