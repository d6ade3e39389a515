//! Check: the config is valid (it loaded), the keys fit, every storage answers and can be
//! written (a probe object is written, read back and deleted), and every source
//! answers. A typed report: the CLI renders it and picks the exit code from
//! [`CheckReport::healthy`].

use backup_core::transform::{identity_file_exposure, Keyring};
use backup_core::Sink;
use bytes::Bytes;

use crate::{describe, keys, storage, stores, Lifeboat, OpError};

/// A prefix that holds nothing: listing it proves the storage answers, the bucket exists and
/// the credentials work, without listing a whole bucket (a `stat` of a missing key cannot tell
/// a missing bucket from a missing object on S3). The write probe goes below it too: a key
/// that is lifeboat's own, never a source's (`[a-z0-9_-]+` cannot start with a dot).
const PROBE_PREFIX: &str = ".lifeboat-check/";

/// What one line of the check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The `[encryption]` settings.
    Encryption,
    /// A `[storage.NAME]`.
    Storage,
    /// A `[[sources]]` entry.
    Source,
}

/// How one item fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// It works.
    Ok,
    /// It works, but something deserves attention.
    Warn,
    /// It does not work: backups (or restores) of it would fail.
    Failed,
}

/// One checked item.
#[derive(Debug, Clone)]
pub struct CheckItem {
    /// What it is.
    pub subject: Subject,
    /// Its name (`-` for the encryption settings).
    pub name: String,
    /// How it fared.
    pub health: Health,
    /// What was found.
    pub detail: String,
}

/// Every checked item.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// In order: encryption, storages, sources.
    pub items: Vec<CheckItem>,
}

impl CheckReport {
    /// Whether nothing failed (warnings are fine).
    pub fn healthy(&self) -> bool {
        self.items.iter().all(|item| item.health != Health::Failed)
    }
}

impl Lifeboat {
    /// Checks everything a backup run needs. `Err` only when `[compression]`/`[encryption]`
    /// cannot make a transform at all (a config error).
    pub async fn check(&self) -> Result<CheckReport, OpError> {
        keys::backup_transforms(self.config())?;
        let mut items = vec![self.check_encryption()];
        for name in self.config().storages.keys() {
            items.push(self.check_storage(name).await);
        }
        for source in &self.config().sources {
            let (health, detail) = match stores::source_of(source) {
                Err(error) => (Health::Failed, describe(&error)),
                Ok(dump) => match dump.preflight().await {
                    Ok(preflight) => (
                        Health::Ok,
                        format!(
                            "{}{}{}",
                            source.store.kind(),
                            preflight
                                .version
                                .map(|v| format!(" {v}"))
                                .unwrap_or_default(),
                            preflight
                                .estimated_bytes
                                .map(|b| format!(
                                    ", about {}",
                                    bytesize::ByteSize::b(b).display().iec()
                                ))
                                .unwrap_or_default()
                        ),
                    ),
                    Err(error) => (Health::Failed, error.to_string()),
                },
            };
            items.push(CheckItem {
                subject: Subject::Source,
                name: source.name.clone(),
                health,
                detail,
            });
        }
        Ok(CheckReport { items })
    }

    fn check_encryption(&self) -> CheckItem {
        let (health, detail) = match &self.config().encryption {
            None => (Health::Warn, "backups will NOT be encrypted".to_string()),
            Some(e) if e.passphrase.is_some() => (Health::Ok, "passphrase (scrypt)".to_string()),
            Some(e) => match &e.identity_file {
                None => (
                    Health::Warn,
                    "no identity_file: backups can be made, but restore and verify need the key"
                        .to_string(),
                ),
                Some(path) => match Keyring::from_identity_file(path) {
                    Err(error) => (Health::Failed, error.to_string()),
                    Ok(keyring) => {
                        let publics: Vec<String> = keyring
                            .identities()
                            .iter()
                            .map(|i| i.to_public().to_string())
                            .collect();
                        let matches = e.recipients.iter().any(|r| publics.contains(r));
                        // Reading the key logged a warning already; `check` says it too.
                        let exposed = identity_file_exposure(path).ok().flatten();
                        if let (true, Some(mode)) = (matches, exposed) {
                            (
                                Health::Warn,
                                format!(
                                    "{} recipient(s), identity matches, but identity_file {} \
                                     has mode {mode:04o}: its group or others can read the \
                                     key (chmod 600 it)",
                                    e.recipients.len(),
                                    path.display()
                                ),
                            )
                        } else if matches {
                            (
                                Health::Ok,
                                format!("{} recipient(s), identity matches", e.recipients.len()),
                            )
                        } else {
                            (
                                Health::Failed,
                                "identity_file matches none of the recipients: backups could \
                                 not be restored"
                                    .to_string(),
                            )
                        }
                    }
                },
            },
        };
        CheckItem {
            subject: Subject::Encryption,
            name: "-".to_string(),
            health,
            detail,
        }
    }

    async fn check_storage(&self, name: &str) -> CheckItem {
        let (health, detail) = match storage::open(self.config(), name) {
            Err(error) => (Health::Failed, describe(&error)),
            Ok(sink) => match sink.local_root().filter(|root| !root.exists()) {
                Some(root) => match root.ancestors().skip(1).find(|p| p.exists()) {
                    Some(parent) if parent.is_dir() => (
                        Health::Warn,
                        format!(
                            "{} does not exist yet: the first backup creates it (is the disk mounted?)",
                            root.display()
                        ),
                    ),
                    _ => (
                        Health::Failed,
                        format!(
                            "{} cannot be created: a parent is not a folder",
                            root.display()
                        ),
                    ),
                },
                None => match sink.list(PROBE_PREFIX).await {
                    Ok(_) => match probe_writes(&sink).await {
                        Ok(()) => (Health::Ok, sink.describe()),
                        Err(problem) => (Health::Failed, format!("{}: {problem}", sink.describe())),
                    },
                    Err(error) => (Health::Failed, format!("{}: {}", sink.describe(), describe(&error))),
                },
            },
        };
        CheckItem {
            subject: Subject::Storage,
            name: name.to_string(),
            health,
            detail,
        }
    }
}

/// Writes a small probe object, reads it back and deletes it: a storage that can be listed
/// but not written (a disk mounted read-only, read-only credentials, a full disk) would fail
/// every backup, so `check` must not call it ok. Returns what failed, in words.
async fn probe_writes(sink: &dyn Sink) -> Result<(), String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let key = format!("{PROBE_PREFIX}probe-{}-{nanos}", std::process::id());
    let body = Bytes::from(format!(
        "written by `lifeboat check`, deleted right after: {key}"
    ));
    sink.put(&key, body.clone()).await.map_err(|error| {
        format!(
            "cannot be written, so backups would fail (read-only mount or credentials? full?): {}",
            describe(&error)
        )
    })?;
    let read = sink.get(&key).await;
    let deleted = sink.delete(&key).await;
    match read {
        Ok(back) if back == body => {}
        Ok(_) => return Err(format!("`{key}` read back differs from what was written")),
        Err(error) => {
            return Err(format!(
                "`{key}` was written but cannot be read back: {}",
                describe(&error)
            ))
        }
    }
    deleted.map_err(|error| {
        format!(
            "`{key}` was written but cannot be deleted, so prune would fail: {}",
            describe(&error)
        )
    })
}
