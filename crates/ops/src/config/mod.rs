//! The configuration file (README, "Configuration"): TOML, `${VAR}` expansion, unknown keys
//! refused with their line, names and references checked, schedules and durations parsed,
//! relative paths resolved against the config file's folder (so `cron` runs from any
//! directory behave the same). A config that loads is valid (ARCHITECTURE.md,
//! "Configuration").

mod daemon;
mod encryption;
mod error;
mod expand;
mod prune;
mod sources;
mod storages;

use std::path::{Path, PathBuf};

use backup_core::transform::Compression;
use indexmap::IndexMap;
use lifeboat_sinks::StorageConfig;
use serde::Deserialize;

use crate::notify::NotifyConfig;

pub use daemon::{DaemonConfig, LocksConfig};
pub use encryption::EncryptionConfig;
pub use error::ConfigError;
pub use expand::UnsetVariable;
pub use prune::PruneConfig;
pub use sources::{PruneWhen, SourceConfig};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig<S> {
    #[serde(default)]
    storage: IndexMap<String, StorageConfig>,
    #[serde(default)]
    compression: Compression,
    encryption: Option<EncryptionConfig>,
    #[serde(default = "Vec::new")]
    sources: Vec<S>,
    #[serde(default)]
    notify: Vec<NotifyConfig>,
    #[serde(default)]
    daemon: DaemonConfig,
    #[serde(default)]
    locks: LocksConfig,
    #[serde(default)]
    prune: PruneConfig,
}

/// A loaded, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Storages by name, in file order; the first is the default.
    pub storages: IndexMap<String, StorageConfig>,
    /// Compression of every backup.
    pub compression: Compression,
    /// Encryption, when configured.
    pub encryption: Option<EncryptionConfig>,
    /// Sources in file order.
    pub sources: Vec<SourceConfig>,
    /// Where backup outcomes are sent.
    pub notify: Vec<NotifyConfig>,
    /// How `lifeboat daemon` runs.
    pub daemon: DaemonConfig,
    /// How locks are judged stale.
    pub locks: LocksConfig,
    /// How prune treats leftovers of failed runs.
    pub prune: PruneConfig,
}

impl Config {
    /// Reads and validates the config at `path`, expanding `${VAR}` from the environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Self::parse(&text, path, &|name| std::env::var(name).ok())
    }

    /// Parses `text` as if read from `path`, with `lookup` as the environment.
    pub fn parse(
        text: &str,
        path: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let parse_err = |error| ConfigError::Parse {
            path: shown.clone(),
            error: Box::new(error),
        };
        // Pass 1, on the text itself: structure, unknown keys and types, with line numbers.
        let spanned: RawConfig<toml::Spanned<sources::RawSource>> =
            toml::from_str(text).map_err(parse_err)?;
        let lines: Vec<usize> = spanned
            .sources
            .iter()
            .map(|s| line_of(text, s.span().start))
            .collect();
        for (source, line) in spanned.sources.iter().zip(&lines) {
            source
                .get_ref()
                .check_shape()
                .map_err(|message| ConfigError::Invalid {
                    path: shown.clone(),
                    line: Some(*line),
                    message,
                })?;
        }
        // Pass 2: the same document with `${VAR}` expanded in every string.
        let mut value: toml::Value = toml::from_str(text).map_err(parse_err)?;
        expand::expand(&mut value, "", lookup).map_err(|error| ConfigError::Unset {
            path: shown.clone(),
            error,
        })?;
        let raw: RawConfig<sources::RawSource> =
            RawConfig::deserialize(value).map_err(parse_err)?;

        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let invalid = |line: Option<usize>, message: String| ConfigError::Invalid {
            path: shown.clone(),
            line,
            message,
        };
        if raw.storage.is_empty() {
            return Err(invalid(
                None,
                "no [storage.NAME] table: define at least one storage".to_string(),
            ));
        }
        let storages = raw
            .storage
            .into_iter()
            .map(|(name, storage)| {
                if !backup_core::is_valid_source_name(&name) {
                    return Err(invalid(
                        None,
                        format!("storage name `{name}` is not valid: use [a-z0-9_-]+"),
                    ));
                }
                Ok((name, resolve_storage(storage, &base)))
            })
            .collect::<Result<IndexMap<_, _>, _>>()?;
        storages::check(&storages).map_err(|message| invalid(None, message))?;
        let default_storage = storages.keys().next().cloned().unwrap_or_default();

        let mut sources: Vec<SourceConfig> = Vec::new();
        for (raw_source, line) in raw.sources.into_iter().zip(lines) {
            let source = raw_source
                .resolve(&base, &default_storage)
                .map_err(|message| invalid(Some(line), message))?;
            if let Some(other) = sources.iter().find(|s| s.name == source.name) {
                return Err(invalid(
                    Some(line),
                    format!(
                        "source name `{}` is used twice (first at line {})",
                        source.name, other.line
                    ),
                ));
            }
            for storage in &source.storage {
                if !storages.contains_key(storage) {
                    return Err(invalid(
                        Some(line),
                        format!(
                            "source `{}` names storage `{storage}`, which is not defined (defined: {})",
                            source.name,
                            storages.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            sources.push(SourceConfig { line, ..source });
        }

        let encryption = raw.encryption.map(|mut e| {
            e.identity_file = e.identity_file.map(|p| resolve_path(&base, &p));
            e
        });
        if let Some(encryption) = &encryption {
            if encryption.recipients.is_empty() && encryption.passphrase.is_none() {
                return Err(invalid(
                    None,
                    "[encryption] has neither `recipients` nor `passphrase`: backups would not \
                     be encrypted. Add recipients (see `lifeboat keygen`) or remove [encryption]"
                        .to_string(),
                ));
            }
            if !encryption.recipients.is_empty() && encryption.passphrase.is_some() {
                return Err(invalid(
                    None,
                    "[encryption] sets both `recipients` and `passphrase`; age encrypts to one \
                     or the other"
                        .to_string(),
                ));
            }
        }
        Ok(Config {
            path: path.to_path_buf(),
            storages,
            compression: raw.compression,
            encryption,
            sources,
            notify: raw.notify,
            daemon: raw.daemon,
            locks: raw.locks,
            prune: raw.prune,
        })
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }
}

fn resolve_storage(storage: StorageConfig, base: &Path) -> StorageConfig {
    match storage {
        StorageConfig::Fs(mut fs) => {
            fs.root = resolve_path(base, &fs.root);
            StorageConfig::Fs(fs)
        }
        other => other,
    }
}

/// `path` relative to `base` (the config's folder) unless absolute, without `.` components.
pub fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    backup_core::store::resolve_path(base, path)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests;
