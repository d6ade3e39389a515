//! `[[sources]]` entries: the keys every source has, then the options of its kind.

use std::path::Path;
use std::sync::Arc;

use backup_core::retention::KeepOptions;
use backup_core::store::{ConfigureError, ConfiguredStore};
use lifeboat_edge::HumanDuration;
use serde::Deserialize;

use crate::schedule::Schedule;
use crate::stores;

/// When a source's retention is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PruneWhen {
    /// Only by `lifeboat prune` (the default).
    #[default]
    Manual,
    /// Also right after each successful `lifeboat backup` of the source.
    AfterBackup,
}

/// Keys every `[[sources]]` table has; the rest belongs to its kind. Schedules stay text
/// here and are parsed in [`RawSource::resolve`], where the error gets the table's line.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RawSource {
    name: String,
    kind: String,
    #[serde(default)]
    storage: Vec<String>,
    schedule: Option<String>,
    retention: Option<KeepOptions>,
    #[serde(default)]
    prune: PruneWhen,
    #[serde(default, deserialize_with = "lifeboat_edge::duration::legacy_months")]
    max_age: Option<HumanDuration>,
    verify_schedule: Option<String>,
    #[serde(flatten)]
    options: toml::Table,
}

/// One validated source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Its unique name, `[a-z0-9_-]+`.
    pub name: String,
    /// Its store and options.
    pub store: Arc<dyn ConfiguredStore>,
    /// The storages it goes to (default: the first storage).
    pub storage: Vec<String>,
    /// When `lifeboat daemon` backs it up.
    pub schedule: Option<Schedule>,
    /// Retention policy for `lifeboat prune`; none keeps everything.
    pub retention: Option<KeepOptions>,
    /// Whether `backup` prunes the source after a success.
    pub prune: PruneWhen,
    /// How old the newest backup may be before `status` calls the source stale.
    pub max_age: Option<HumanDuration>,
    /// When `lifeboat daemon` runs its restore drill (`verify --deep` of the latest backup).
    pub verify_schedule: Option<Schedule>,
    /// The line of its `[[sources]]` table.
    pub line: usize,
}

impl RawSource {
    /// Checks the kind's options before `${VAR}` expansion, so that an error message quotes
    /// the config as written and never a value taken from the environment (maybe a secret).
    pub(super) fn check_shape(&self) -> Result<(), String> {
        let context =
            |e: ConfigureError| format!("source `{}` (kind {}): {e}", self.name, self.kind);
        let Some(store) = stores::store(&self.kind) else {
            return Ok(());
        };
        let options = toml::Value::Table(self.options.clone());
        store
            .check_options(&mut <dyn erased_serde::Deserializer>::erase(options))
            .map_err(context)
    }

    pub(super) fn resolve(
        self,
        base: &Path,
        default_storage: &str,
    ) -> Result<SourceConfig, String> {
        let name = self.name;
        if !backup_core::is_valid_source_name(&name) {
            return Err(format!(
                "source name `{name}` is not valid: use lowercase letters, digits, `_` and `-` \
                 ([a-z0-9_-]+)"
            ));
        }
        let context = |e: ConfigureError| format!("source `{name}` (kind {}): {e}", self.kind);
        let Some(descriptor) = stores::store(&self.kind) else {
            return Err(format!(
                "source `{name}`: unknown kind `{}` (expected {})",
                self.kind,
                stores::STORES
                    .iter()
                    .map(|s| s.kind())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let options = toml::Value::Table(self.options);
        let store: Arc<dyn ConfiguredStore> = descriptor
            .configure(&mut <dyn erased_serde::Deserializer>::erase(options), base)
            .map_err(context)?
            .into();
        let schedule = |key: &str, text: Option<String>| {
            text.map(|text| text.parse::<Schedule>())
                .transpose()
                .map_err(|e| format!("source `{name}`: {key} {e}"))
        };
        let backup_schedule = schedule("schedule", self.schedule)?;
        let verify_schedule = schedule("verify_schedule", self.verify_schedule)?;
        if let Some(twice) = self
            .storage
            .iter()
            .enumerate()
            .find_map(|(i, s)| self.storage[..i].contains(s).then_some(s))
        {
            return Err(format!("source `{name}` names storage `{twice}` twice"));
        }
        let storage = if self.storage.is_empty() {
            vec![default_storage.to_string()]
        } else {
            self.storage
        };
        Ok(SourceConfig {
            name,
            store,
            storage,
            schedule: backup_schedule,
            retention: self.retention,
            prune: self.prune,
            max_age: self.max_age,
            verify_schedule,
            line: 0,
        })
    }
}
