//! [`FilesOptions`]: the keys of a `kind = "files"` source in `lifeboat.toml`.

use std::path::PathBuf;

use serde::Deserialize;

/// The options of a `kind = "files"` source (the keys of its `[[sources]]` table besides the
/// common ones); unknown keys are errors. A files backup has no place of its own to restore
/// to: `lifeboat restore` needs `--to DIR`.
///
/// ```toml
/// [[sources]]
/// name = "config"
/// kind = "files"
/// paths = ["./config", "./certs"]
/// exclude = ["*.tmp"]
/// # preserve_owner = false
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesOptions {
    /// Files and folders to archive; each becomes a top-level entry named after itself
    /// (`./config` → `config/...`), so no two may end in the same name. Relative paths are
    /// relative to the config file's folder. At least one.
    pub paths: Vec<PathBuf>,
    /// Glob patterns to leave out, matched against paths relative to their configured path
    /// (`sub/cache`) and against file names (`*.tmp`); `*` also matches `/`. An excluded
    /// folder is not descended into; the configured paths themselves are never excluded.
    /// Default: none.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Restore: give every file, folder and symlink the numeric owner and group stored in the
    /// backup (like GNU tar's `--same-owner --numeric-owner`; the restore must run as root),
    /// keeping setuid, setgid and sticky bits. Default `false`: everything restored belongs
    /// to the restoring user and those three bits are dropped, so a restore by root never
    /// turns someone else's setuid file into a setuid-root one.
    #[serde(default)]
    pub preserve_owner: bool,
}
