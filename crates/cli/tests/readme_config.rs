//! Every key the README's store sections and the `init` template document is a key lifeboat
//! accepts: the commented-out options are uncommented and the config checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{lifeboat, repo_root, write_config};

/// The ```toml blocks of the README section that starts with `heading`.
fn toml_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme.find(heading).expect("the README section");
    let section = &readme[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split("```toml\n")
        .skip(1)
        .map(|rest| rest[..rest.find("```").unwrap()].to_string())
        .collect()
}

/// `# key = value` lines become `key = value`; other comments stay.
fn uncomment_options(block: &str) -> String {
    block
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(key, _)| {
                    key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                }) =>
            {
                rest
            }
            Some(rest) if rest.starts_with("[[sources]]") => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `lifeboat check` on `sources`: whatever the servers say, the config must be accepted
/// (exit 2 is a configuration error).
fn assert_accepted(sources: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), sources);
    let out = lifeboat(dir.path())
        .env("ORDERS_DB_PASSWORD", "x")
        .env("REDIS_PASSWORD", "x")
        .env("RABBITMQ_PASSWORD", "x")
        .arg("check")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{}\n{stderr}", String::from_utf8_lossy(&out.stdout));
    assert_ne!(
        out.status.code(),
        Some(2),
        "config refused:\n{sources}\n{stderr}"
    );
}

#[test]
fn the_readme_store_options_are_all_accepted() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let blocks = toml_blocks(&readme, "## Stores");
    assert!(blocks.len() >= 3, "the store sections lost their examples");
    for block in blocks {
        assert_accepted(&uncomment_options(&block));
    }
}

#[test]
fn the_init_template_sources_are_all_accepted() {
    let template =
        std::fs::read_to_string(repo_root().join("crates/cli/templates/lifeboat.toml")).unwrap();
    let sources = &template[template.find("[[sources]]").unwrap()..];
    assert_accepted(&uncomment_options(sources));
}

#[test]
fn the_readme_configuration_and_daemon_examples_are_accepted() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let configuration = toml_blocks(&readme, "## Configuration");
    let daemon = toml_blocks(&readme, "### The daemon and its metrics");
    let mut text = configuration[0].clone();
    text.push('\n');
    text.push_str(&daemon[0]);
    // The passphrase line is the commented alternative to recipients; the example keeps
    // recipients, which must then be a real key to be accepted.
    let key = age::x25519::Identity::generate().to_public().to_string();
    let text = text.replace("age1...", &key);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lifeboat.toml"), &text).unwrap();
    let out = lifeboat(dir.path())
        .env("S3_ACCESS_KEY_ID", "x")
        .env("S3_SECRET_ACCESS_KEY", "x")
        .env("BACKUP_WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .arg("check")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(2),
        "config refused:\n{text}\n{stderr}"
    );
    assert!(!stderr.contains("deprecated"), "{stderr}");
}
