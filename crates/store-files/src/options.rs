//! [`FilesOptions`]: the keys of a `kind = "files"` source in `lifeboat.toml`.

use std::path::PathBuf;

use serde::Deserialize;

/// The options of a `kind = "files"` source (the keys of its `[[sources]]` table).
///
/// ```toml
/// [[sources]]
/// name = "config"
/// kind = "files"
/// paths = ["./config", "./certs"]
/// exclude = ["*.tmp"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesOptions {
    /// Files and folders to archive; each becomes a top-level entry named after itself
    /// (`./config` → `config/...`). Relative paths are relative to the config file's folder.
    /// At least one.
    pub paths: Vec<PathBuf>,
    /// Glob patterns to leave out, matched against relative paths and file names.
    #[serde(default)]
    pub exclude: Vec<String>,
}
