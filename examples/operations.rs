//! The operations the `lifeboat` binary runs, from library code: a config (here written in
//! the program), then backup, list, verify, a dry run and a real restore, prune and status —
//! each returning a typed outcome.
//!
//! ```text
//! cargo run -p lifeboat-examples --example operations
//! ```
//!
//! It backs up a SQLite database and a config folder it creates in a temporary directory into
//! a local storage there, encrypted to an age key it generates.

use std::path::Path;

use lifeboat::metrics::Metrics;
use lifeboat::{Config, Lifeboat, PruneRequest, RestoreRequest, Selector, Verdict, VerifyRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    make_data(root)?;
    let recipient = lifeboat::keys::generate_identity(&root.join("lifeboat-key.txt"))?;
    let text = format!(
        r#"
        [storage.local]
        kind = "fs"
        root = "./backups"

        [encryption]
        recipients = ["{recipient}"]
        identity_file = "./lifeboat-key.txt"

        [[sources]]
        name = "app"
        kind = "sqlite"
        path = "./data/app.db"
        retention = {{ keep_last = 1 }}

        [[sources]]
        name = "config"
        kind = "files"
        paths = ["./config"]
        "#
    );
    // `Config::load(path)` reads a file; `parse` takes the text, the path it stands for
    // (relative paths are relative to its folder) and the environment for `${VAR}`.
    let config = Config::parse(&text, &root.join("lifeboat.toml"), &|var| {
        std::env::var(var).ok()
    })?;
    let lifeboat = Lifeboat::new(config);

    // Two backup runs, so that retention has something to remove.
    let metrics = Metrics::new();
    for _ in 0..2 {
        let run = lifeboat.backup(&[], &metrics).await?;
        assert_eq!(run.verdict(), Verdict::Success);
        for backup in &run.sources {
            let done = backup.result.as_ref().map_err(|e| lifeboat::describe(e))?;
            println!(
                "backed up {:<6} as {} ({} bytes raw, in {})",
                backup.source,
                done.manifest.id,
                done.manifest.artifact.raw_bytes,
                done.stored_in.join(", ")
            );
        }
    }

    let listing = lifeboat.list(None, None).await?;
    println!("{} backups in storage", listing.backups.len());

    let verified = lifeboat
        .verify(&VerifyRequest {
            source: None,
            selector: Selector::Latest,
            deep: false,
            storage: None,
        })
        .await?;
    for checked in &verified {
        match &checked.result {
            Ok(report) => println!("verified {}: {}", checked.source, report.summary),
            Err(error) => println!(
                "verify of {} FAILED: {}",
                checked.source,
                lifeboat::describe(error)
            ),
        }
    }

    let to = root.join("restored/app.db");
    let to = to.to_str().ok_or("a non-UTF-8 temp path")?;
    let mut request = RestoreRequest {
        source: "app",
        selector: Selector::Latest,
        to: Some(to),
        force: false,
        dry_run: true,
        storage: None,
    };
    let dry = lifeboat.restore(&request).await?;
    println!("dry run: {}", dry.report.summary);
    request.dry_run = false;
    let restored = lifeboat.restore(&request).await?;
    println!(
        "restored {} from {}: {}",
        restored.id, restored.storage, restored.report.summary
    );

    for source in lifeboat.prune(&PruneRequest::default()).await? {
        let outcome = source.result.map_err(|e| lifeboat::describe(&e))?;
        let removed = outcome.plan.backups.iter().filter(|(d, _)| !d.keep).count();
        println!(
            "pruned {}: {removed} backup copy(ies) removed",
            source.source
        );
    }

    for status in lifeboat
        .status(None, time::OffsetDateTime::now_utc())
        .await?
    {
        println!(
            "{}: {}",
            status.source,
            if status.healthy {
                "healthy".to_string()
            } else {
                status.problems.join("; ")
            }
        );
    }
    Ok(())
}

/// A small database and a config folder to back up.
fn make_data(root: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(root.join("data"))?;
    std::fs::create_dir_all(root.join("config"))?;
    std::fs::write(root.join("config/app.toml"), "port = 8080\n")?;
    let db = rusqlite::Connection::open(root.join("data/app.db"))?;
    db.execute_batch(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO items(name) VALUES ('one'), ('two'), ('three');",
    )?;
    Ok(())
}
