//! Checks of the `[storage.NAME]` tables that need more than their own keys: timeouts that
//! can be used, and no two storages in the same place (they would find each other's locks,
//! so every backup would stop as "locked", and each would list the other's backups).

use indexmap::IndexMap;
use lifeboat_sinks::StorageConfig;

/// Why the storages of a config cannot be used, as the config error's message.
pub(super) fn check(storages: &IndexMap<String, StorageConfig>) -> Result<(), String> {
    for (name, storage) in storages {
        storage
            .timeouts()
            .map_err(|problem| format!("storage `{name}`: {problem}"))?;
    }
    let located: Vec<_> = storages
        .iter()
        .map(|(name, storage)| (name, storage.location()))
        .collect();
    for (i, (first, location)) in located.iter().enumerate() {
        if let Some((second, _)) = located[i + 1..].iter().find(|(_, l)| l == location) {
            return Err(format!(
                "storages `{first}` and `{second}` are the same place ({location}): every \
                 backup would find its own lock there and stop; give each storage its own \
                 root (or bucket, or prefix), or remove one"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn parse(text: &str, dir: &Path) -> Result<Config, ConfigError> {
        Config::parse(text, &dir.join("lifeboat.toml"), &|_| None)
    }

    #[test]
    fn two_fs_storages_with_the_same_root_are_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("backups")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("backups"), dir.path().join("alias")).unwrap();
        let text = "[storage.local]\nkind = \"fs\"\nroot = \"./backups\"\n\n\
                    [storage.copy]\nkind = \"fs\"\nroot = \"alias/\"\n";
        let err = parse(text, dir.path()).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains("`local`") && shown.contains("`copy`"),
            "{shown}"
        );
        assert!(shown.contains("same place"), "{shown}");

        let text = "[storage.local]\nkind = \"fs\"\nroot = \"./backups\"\n\n\
                    [storage.copy]\nkind = \"fs\"\nroot = \"./backups/copy\"\n";
        parse(text, dir.path()).unwrap();
    }

    #[test]
    fn two_s3_storages_on_the_same_bucket_and_prefix_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s3 = |name: &str, endpoint: &str, root: &str| {
            format!(
                "[storage.{name}]\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"{endpoint}\"\n\
                 root = \"{root}\"\n\n"
            )
        };
        let same =
            s3("a", "http://127.0.0.1:9000", "prod") + &s3("b", "http://127.0.0.1:9000/", "/prod/");
        let shown = parse(&same, dir.path()).unwrap_err().to_string();
        assert!(shown.contains("`a` and `b`"), "{shown}");
        assert!(shown.contains("s3://b/prod"), "{shown}");

        let other_prefix =
            s3("a", "http://127.0.0.1:9000", "prod") + &s3("b", "http://127.0.0.1:9000", "dev");
        parse(&other_prefix, dir.path()).unwrap();
        let other_server =
            s3("a", "http://127.0.0.1:9000", "prod") + &s3("b", "http://10.0.0.1:9000", "prod");
        parse(&other_server, dir.path()).unwrap();
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[storage.local]\nkind = \"fs\"\nroot = \"b\"\nio_timeout = \"0s\"\n";
        let shown = parse(text, dir.path()).unwrap_err().to_string();
        assert!(
            shown.contains("storage `local`") && shown.contains("io_timeout"),
            "{shown}"
        );
        let text = "[storage.local]\nkind = \"fs\"\nroot = \"b\"\ntimeout = \"5s\"\nio_timeout = \"2min\"\n";
        let config = parse(text, dir.path()).unwrap();
        let timeouts = config.storages["local"].timeouts().unwrap();
        assert_eq!(timeouts.io_timeout.as_secs(), 120);
    }
}
