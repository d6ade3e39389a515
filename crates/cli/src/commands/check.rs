//! `lifeboat check`: the config is valid, every storage and source answers, and the keys fit.

use backup_core::transform::Keyring;
use backup_core::Sink;

use crate::config::Config;
use crate::exit::{CliError, Exit};
use crate::{keys, output, registry, storage};

/// A prefix that holds nothing: listing it proves the storage answers, the bucket exists and
/// the credentials work, without listing a whole bucket (a `stat` of a missing key cannot tell
/// a missing bucket from a missing object on S3).
const PROBE_PREFIX: &str = ".lifeboat-check/";

fn first_existing_ancestor(path: &std::path::Path) -> Option<&std::path::Path> {
    path.ancestors().skip(1).find(|p| p.exists())
}

/// Checks everything a backup run needs; exit 1 when anything is unreachable.
pub async fn run(config: &Config) -> Result<Exit, CliError> {
    let mut table = output::table(&["what", "name", "result", "detail"]);
    let mut healthy = true;

    keys::backup_transforms(config)?;
    let encryption_row = match &config.encryption {
        None => ("WARN", "backups will NOT be encrypted".to_string()),
        Some(e) if e.passphrase.is_some() => ("ok", "passphrase (scrypt)".to_string()),
        Some(e) => match &e.identity_file {
            None => (
                "WARN",
                "no identity_file: backups can be made, but restore and verify need the key"
                    .to_string(),
            ),
            Some(path) => match Keyring::from_identity_file(path) {
                Err(err) => {
                    healthy = false;
                    ("FAILED", err.to_string())
                }
                Ok(keyring) => {
                    let publics: Vec<String> = keyring
                        .identities()
                        .iter()
                        .map(|i| i.to_public().to_string())
                        .collect();
                    if e.recipients.iter().any(|r| publics.contains(r)) {
                        (
                            "ok",
                            format!("{} recipient(s), identity matches", e.recipients.len()),
                        )
                    } else {
                        healthy = false;
                        (
                            "FAILED",
                            "identity_file matches none of the recipients: backups could not be restored"
                                .to_string(),
                        )
                    }
                }
            },
        },
    };
    table.add_row(vec!["encryption", "-", encryption_row.0, &encryption_row.1]);

    for name in config.storages.keys() {
        let (result, detail) = match storage::open_opendal(config, name) {
            Err(err) => ("FAILED", err.message()),
            Ok(sink) => match sink.local_root().filter(|root| !root.exists()) {
                Some(root) => match first_existing_ancestor(root) {
                    Some(parent) if parent.is_dir() => (
                        "WARN",
                        format!(
                            "{} does not exist yet: the first backup creates it (is the disk mounted?)",
                            root.display()
                        ),
                    ),
                    _ => (
                        "FAILED",
                        format!("{} cannot be created: a parent is not a folder", root.display()),
                    ),
                },
                None => match sink.list(PROBE_PREFIX).await {
                    Ok(_) => ("ok", sink.describe()),
                    Err(err) => ("FAILED", format!("{}: {err}", sink.describe())),
                },
            },
        };
        healthy &= result != "FAILED";
        table.add_row(vec!["storage", name, result, &detail]);
    }

    for source in &config.sources {
        let (result, detail) = match registry::source_for(source) {
            Err(err) => ("FAILED", err.message()),
            Ok(s) => match s.preflight().await {
                Ok(p) => (
                    "ok",
                    format!(
                        "{}{}{}",
                        source.store.kind(),
                        p.version.map(|v| format!(" {v}")).unwrap_or_default(),
                        p.estimated_bytes
                            .map(|b| format!(", about {}", output::size(b)))
                            .unwrap_or_default()
                    ),
                ),
                Err(err) => ("FAILED", err.to_string()),
            },
        };
        healthy &= result == "ok";
        table.add_row(vec!["source", &source.name, result, &detail]);
    }
    crate::output::print(&table);
    Ok(if healthy {
        Exit::Success
    } else {
        Exit::Failure
    })
}
