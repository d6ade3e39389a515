//! The configuration file (DESIGN.md section 3): TOML, `${VAR}` expansion, unknown keys
//! refused with their line, names and references checked, relative paths resolved against the
//! config file's folder (so `cron` runs from any directory behave the same).

mod expand;
mod sources;

use std::fmt;
use std::path::{Path, PathBuf};

use backup_core::transform::Compression;
use indexmap::IndexMap;
use lifeboat_sinks::StorageConfig;

use crate::notify::NotifyConfig;
use serde::Deserialize;

pub use expand::UnsetVariable;
pub use sources::{PruneWhen, SourceConfig};

/// A config that cannot be used; the CLI exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// Not valid TOML, an unknown key, a wrong type (the message carries the line).
    #[error("config {path}: {error}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's error, with line and column.
        #[source]
        error: Box<toml::de::Error>,
    },
    /// An unset `${VAR}`.
    #[error("config {path}: {error}")]
    Unset {
        /// The file.
        path: String,
        /// Which variable, in which key.
        #[source]
        error: UnsetVariable,
    },
    /// Valid TOML that does not make a valid config.
    #[error("config {path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: String,
        /// The line it concerns, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

/// The `[encryption]` table. `Debug` never shows the passphrase.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Public `age1...` recipients; backup needs only these.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The age identity file (private key), needed to restore and verify.
    pub identity_file: Option<PathBuf>,
    /// A passphrase, instead of (or besides) recipients; use `${VAR}`, never a literal.
    pub passphrase: Option<String>,
}

impl fmt::Debug for EncryptionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionConfig")
            .field("recipients", &self.recipients)
            .field("identity_file", &self.identity_file)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .finish()
    }
}

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
}

/// The `[locks]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocksConfig {
    /// A lock older than this is taken over whatever its host (default `"6h"`); a lock whose
    /// process is gone on this host is taken over at once.
    #[serde(default, deserialize_with = "lifeboat_edge::duration::legacy_months")]
    pub stale_after: Option<lifeboat_edge::HumanDuration>,
}

/// The `[daemon]` table: how `lifeboat daemon` runs the schedules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served (default loopback only).
    #[serde(default = "default_listen")]
    pub listen: std::net::SocketAddr,
    /// How many sources may run at once (default 2).
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// A random delay of up to this many seconds before each scheduled run (default 0).
    #[serde(default)]
    pub jitter_seconds: u64,
    /// On SIGTERM/SIGINT, how long running backups may take to finish before they are aborted
    /// (an aborted backup leaves no manifest). Default 60.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_concurrent: default_max_concurrent(),
            jitter_seconds: 0,
            shutdown_grace_seconds: default_grace(),
        }
    }
}

fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 9898))
}

fn default_max_concurrent() -> usize {
    2
}

fn default_grace() -> u64 {
    60
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
