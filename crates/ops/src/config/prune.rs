//! The `[prune]` table: how `lifeboat prune` treats the leftovers of failed or killed runs.

use lifeboat_edge::HumanDuration;
use serde::Deserialize;

/// The `[prune]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneConfig {
    /// How old a leftover (data without a manifest, a temp upload, an empty backup folder, an
    /// unfinished multipart upload, a scratch copy) must be, by its modification time, before
    /// `prune` removes it. Default `"24h"`: four times `[locks] stale_after`'s default, so
    /// even a backup whose lock was taken over as stale keeps its files; a running backup's
    /// temp files and uploads are rewritten as it goes and stay young. A shorter grace is
    /// safe only if no backup runs longer.
    #[serde(default = "default_leftover_grace")]
    pub leftover_grace: HumanDuration,
}

fn default_leftover_grace() -> HumanDuration {
    HumanDuration::from_hours(24)
}

impl Default for PruneConfig {
    fn default() -> Self {
        Self {
            leftover_grace: default_leftover_grace(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_grace_is_the_core_default() {
        assert_eq!(
            PruneConfig::default().leftover_grace.as_time(),
            backup_core::leftovers::DEFAULT_LEFTOVER_GRACE
        );
        let config: PruneConfig = toml::from_str("leftover_grace = \"36h\"").unwrap();
        assert_eq!(config.leftover_grace, HumanDuration::from_hours(36));
        assert!(toml::from_str::<PruneConfig>("leftover_grace = \"5m\"").is_err());
        assert!(toml::from_str::<PruneConfig>("grace = \"1h\"").is_err());
    }
}
