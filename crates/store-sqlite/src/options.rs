//! [`SqliteOptions`]: the keys of a `kind = "sqlite"` source in `lifeboat.toml`.

use std::path::PathBuf;

use serde::Deserialize;

/// The options of a `kind = "sqlite"` source (the keys of its `[[sources]]` table).
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
    /// The database file; a relative path is relative to the config file's folder. Backed
    /// up with SQLite's online backup API, so other processes may keep writing to it.
    pub path: PathBuf,
}
