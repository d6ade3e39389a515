//! The `[daemon]` and `[locks]` tables.

use std::net::SocketAddr;

use lifeboat_edge::deprecation::renamed;
use lifeboat_edge::HumanDuration;
use serde::Deserialize;

/// The `[locks]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocksConfig {
    /// A lock older than this is taken over whatever its host (default `"6h"`); a lock whose
    /// process is gone on this host is taken over at once.
    #[serde(default, deserialize_with = "lifeboat_edge::duration::legacy_months")]
    pub stale_after: Option<HumanDuration>,
}

/// The `[daemon]` table: how `lifeboat daemon` runs the schedules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawDaemonConfig")]
pub struct DaemonConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served (default `127.0.0.1:9898`,
    /// loopback only).
    pub listen: SocketAddr,
    /// How many jobs may run at once (default 2).
    pub max_concurrent: usize,
    /// A random delay of up to this long before each scheduled run (default none).
    pub jitter: HumanDuration,
    /// On SIGTERM/SIGINT, how long running jobs may take to finish before they are aborted
    /// (an aborted backup leaves no manifest). Default `"60s"`.
    pub shutdown_grace: HumanDuration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9898)),
            max_concurrent: 2,
            jitter: HumanDuration::ZERO,
            shutdown_grace: HumanDuration::from_secs(60),
        }
    }
}

/// `[daemon]` as written, with the names of earlier releases.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemonConfig {
    listen: Option<SocketAddr>,
    max_concurrent: Option<usize>,
    jitter: Option<HumanDuration>,
    jitter_seconds: Option<u64>,
    shutdown_grace: Option<HumanDuration>,
    shutdown_grace_seconds: Option<u64>,
}

impl TryFrom<RawDaemonConfig> for DaemonConfig {
    type Error = lifeboat_edge::deprecation::BothNames;

    fn try_from(raw: RawDaemonConfig) -> Result<Self, Self::Error> {
        let defaults = Self::default();
        let seconds = HumanDuration::from_secs;
        Ok(Self {
            listen: raw.listen.unwrap_or(defaults.listen),
            max_concurrent: raw.max_concurrent.unwrap_or(defaults.max_concurrent),
            jitter: renamed(
                "jitter_seconds",
                raw.jitter_seconds,
                "jitter",
                raw.jitter,
                seconds,
            )?
            .unwrap_or(defaults.jitter),
            shutdown_grace: renamed(
                "shutdown_grace_seconds",
                raw.shutdown_grace_seconds,
                "shutdown_grace",
                raw.shutdown_grace,
                seconds,
            )?
            .unwrap_or(defaults.shutdown_grace),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_their_old_names() {
        let read = |text: &str| toml::from_str::<DaemonConfig>(text);
        let config = read("jitter = \"30s\"\nshutdown_grace = \"2min\"").unwrap();
        assert_eq!(config.jitter, HumanDuration::from_secs(30));
        assert_eq!(config.shutdown_grace, HumanDuration::from_secs(120));
        let old = read("jitter_seconds = 30\nshutdown_grace_seconds = 0").unwrap();
        assert_eq!(old.jitter, HumanDuration::from_secs(30));
        assert_eq!(old.shutdown_grace, HumanDuration::ZERO);
        let both = read("jitter = \"1s\"\njitter_seconds = 1")
            .unwrap_err()
            .to_string();
        assert!(
            both.contains("`jitter_seconds` is the old name of `jitter`"),
            "{both}"
        );
        assert_eq!(read("").unwrap(), DaemonConfig::default());
        assert!(read("jitter = \"5m\"").is_err(), "a bare m is ambiguous");
    }
}
