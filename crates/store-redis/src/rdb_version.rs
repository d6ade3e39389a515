//! Which Redis releases load which RDB versions: a restore refuses a target too old for the
//! dump's payloads before the first key, naming both versions.

/// The first Redis release that loads RDB version `v` (for "target too old" messages).
pub(crate) fn redis_for_rdb_version(v: u32) -> &'static str {
    match v {
        0..=6 => "2.6",
        7 => "3.2",
        8 => "4.0",
        9 => "5.0",
        10 => "7.0",
        11 => "7.2",
        12 => "7.4",
        _ => "(newer than 7.4)",
    }
}

/// The highest RDB version a Redis `version` ("7.0.15") loads.
pub(crate) fn rdb_version_for_redis(version: &str) -> Option<u32> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    Some(match (major, minor) {
        (0..=2, _) => 6,
        (3, 0..=1) => 6,
        (3, _) => 7,
        (4, _) => 8,
        (5..=6, _) => 9,
        (7, 0..=1) => 10,
        (7, 2..=3) => 11,
        _ => 12,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_releases() {
        assert_eq!(rdb_version_for_redis("7.0.15"), Some(10));
        assert_eq!(rdb_version_for_redis("7.2.4"), Some(11));
        assert_eq!(rdb_version_for_redis("6.2"), Some(9));
        assert_eq!(rdb_version_for_redis("unknown"), None);
        assert_eq!(redis_for_rdb_version(12), "7.4");
        for v in 6..=12 {
            let needs = redis_for_rdb_version(v);
            assert_eq!(
                rdb_version_for_redis(needs).map(|m| m >= v),
                Some(true),
                "{v}"
            );
        }
    }
}
