//! Shared helpers for the CLI tests: a scratch folder with a config, and the binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The `lifeboat` binary, run in `dir`, with no config inherited from the environment.
pub fn lifeboat(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lifeboat").unwrap();
    cmd.current_dir(dir)
        .env_remove("LIFEBOAT_CONFIG")
        .env_remove("LIFEBOAT_LOG")
        .env("NO_COLOR", "1");
    cmd
}

/// Copies a folder recursively (files and folders only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Creates a SQLite database at `path` with `rows` rows in `items`.
pub fn make_db(path: &Path, rows: u32) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch("CREATE TABLE items(id INTEGER PRIMARY KEY, body TEXT NOT NULL);")
        .unwrap();
    let tx = db.unchecked_transaction().unwrap();
    for i in 0..rows {
        tx.execute(
            "INSERT INTO items(body) VALUES (?1)",
            [format!("item {i} {}", "x".repeat((i % 50) as usize))],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// A digest of every row of every table, to compare two databases.
pub fn db_fingerprint(path: &Path) -> Vec<(String, i64, String)> {
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let count: i64 = db
                .query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))
                .unwrap();
            let mut stmt = db
                .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
                .unwrap();
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            let mut text = String::new();
            while let Some(row) = rows.next().unwrap() {
                for c in 0..columns {
                    let v: rusqlite::types::Value = row.get(c).unwrap();
                    text.push_str(&format!("{v:?}|"));
                }
                text.push('\n');
            }
            (t, count, text)
        })
        .collect()
}

/// Writes a config with one local storage and the given sources section; returns its path.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("lifeboat.toml");
    std::fs::write(
        &path,
        format!("[storage.local]\nkind = \"fs\"\nroot = \"./backups\"\n\n{extra}"),
    )
    .unwrap();
    path
}

/// Parses the JSON that `lifeboat list --json` printed.
pub fn list_json(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    list_json_env(dir, args, &[])
}

/// [`list_json`] with extra environment variables (e.g. the storage's credentials).
pub fn list_json_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut cmd = lifeboat(dir);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.args(["list", "--json"]).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
