//! [`SqliteOptions`]: the keys of a `kind = "sqlite"` source in `lifeboat.toml`.

use std::path::PathBuf;

use serde::Deserialize;

/// The options of a `kind = "sqlite"` source (the keys of its `[[sources]]` table besides
/// the common ones); unknown keys are errors.
///
/// ```toml
/// [[sources]]
/// name = "idempotency"
/// kind = "sqlite"
/// path = "./data/idempotency.db"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteOptions {
    /// The database file; a relative path is relative to the config file's folder. It is
    /// opened read-only and never created. Backed up with SQLite's online backup API, so other
    /// processes may keep writing to it; restored to this path unless `--to` names another.
    pub path: PathBuf,
}
