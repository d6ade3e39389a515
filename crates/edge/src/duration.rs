//! [`HumanDuration`]: the one duration type of every duration key in `lifeboat.toml`
//! (`"90s"`, `"10min"`, `"6h"`, `"7d"`, `"1y6mo"`).
//!
//! The grammar is humantime's style with **fixed** unit lengths, parsed here rather than by
//! the `humantime` crate because retention needs calendar-free lengths that humantime does not
//! use (its month is 30.44 days and its year 365.25), and because a bare `m` means minutes to
//! humantime but months to restic's `--keep-within`, which `keep_within` follows: lifeboat
//! refuses the ambiguous `m` instead of guessing (see [`legacy_months`] for the keys that
//! read it as months for one more release).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// The units, longest spellings first within a length so that `min` is never read as `m`.
const UNITS: &[(&str, u64)] = &[
    ("seconds", 1),
    ("second", 1),
    ("secs", 1),
    ("sec", 1),
    ("s", 1),
    ("minutes", MINUTE),
    ("minute", MINUTE),
    ("mins", MINUTE),
    ("min", MINUTE),
    ("hours", HOUR),
    ("hour", HOUR),
    ("hrs", HOUR),
    ("hr", HOUR),
    ("h", HOUR),
    ("days", DAY),
    ("day", DAY),
    ("d", DAY),
    ("weeks", 7 * DAY),
    ("week", 7 * DAY),
    ("w", 7 * DAY),
    ("months", 30 * DAY),
    ("month", 30 * DAY),
    ("mo", 30 * DAY),
    ("years", 365 * DAY),
    ("year", 365 * DAY),
    ("y", 365 * DAY),
];

/// A length of time written like `"90s"`, `"10min"`, `"36h"`, `"7d"`, `"2w"`, `"6mo"`,
/// `"1y"`, or several parts together (`"1w 3d 12h"`, `"1h30min"`).
///
/// | unit | also | length |
/// |------|------|--------|
/// | `s` | `sec`, `secs`, `second`, `seconds` | 1 s |
/// | `min` | `mins`, `minute`, `minutes` | 60 s |
/// | `h` | `hr`, `hrs`, `hour`, `hours` | 60 min |
/// | `d` | `day`, `days` | 24 h |
/// | `w` | `week`, `weeks` | 7 d |
/// | `mo` | `month`, `months` | 30 d |
/// | `y` | `year`, `years` | 365 d |
///
/// Lengths are fixed: the calendar is not consulted. Units are lowercase and follow their
/// number directly (`"3d"`, not `"3 d"`); parts may be separated by spaces and add up. A bare
/// `m` is refused as ambiguous (minutes or months?). Seconds are the finest unit; a number is
/// at most 4294967295. It (de)serializes as that string, written back in canonical form
/// (largest units first, zero parts left out, `"0s"` for zero).
///
/// ```
/// use lifeboat_edge::HumanDuration;
///
/// let d: HumanDuration = "1w 3d".parse()?;
/// assert_eq!(d.as_secs(), 10 * 86_400);
/// assert_eq!(d.to_string(), "1w3d");
/// assert!("6m".parse::<HumanDuration>().is_err());
/// # Ok::<(), lifeboat_edge::InvalidDuration>(())
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration {
    secs: u64,
}

/// A text that is not a [`HumanDuration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a duration: {problem} (expected e.g. \"90s\", \"10min\", \"6h\", \"7d\", \
     \"2w\", \"6mo\", \"1y\")"
)]
pub struct InvalidDuration {
    /// The text that was refused.
    pub input: String,
    /// What is wrong with it.
    pub problem: String,
}

impl HumanDuration {
    /// Zero.
    pub const ZERO: Self = Self { secs: 0 };

    /// `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self { secs }
    }

    /// `minutes` minutes.
    pub const fn from_mins(minutes: u64) -> Self {
        Self::from_secs(minutes.saturating_mul(MINUTE))
    }

    /// `hours` hours.
    pub const fn from_hours(hours: u64) -> Self {
        Self::from_secs(hours.saturating_mul(HOUR))
    }

    /// `days` days of 24 hours.
    pub const fn from_days(days: u64) -> Self {
        Self::from_secs(days.saturating_mul(DAY))
    }

    /// Whole seconds.
    pub const fn as_secs(self) -> u64 {
        self.secs
    }

    /// As a `std` duration (timeouts, sleeps).
    pub const fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.secs)
    }

    /// As a `time` duration (ages, cut-offs), saturating at `i64::MAX` seconds.
    pub fn as_time(self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.secs).unwrap_or(i64::MAX))
    }

    /// Parses `text`, reading a bare `m` as months as lifeboat's retention syntax did before
    /// `mo`. Returns whether that old reading was used, so the caller can warn.
    pub fn parse_with_months_m(text: &str) -> Result<(Self, bool), InvalidDuration> {
        parse(text, true)
    }
}

impl FromStr for HumanDuration {
    type Err = InvalidDuration;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text, false).map(|(duration, _)| duration)
    }
}

fn parse(text: &str, months_m: bool) -> Result<(HumanDuration, bool), InvalidDuration> {
    let bad = |problem: &str| InvalidDuration {
        input: text.to_string(),
        problem: problem.to_string(),
    };
    let mut rest = text.trim_start();
    if rest.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total: u64 = 0;
    let mut used_months_m = false;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("each part must start with a whole number"));
        }
        let number: u32 = rest[..digits]
            .parse()
            .map_err(|_| bad("a number is larger than 4294967295"))?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = rest[letters..].trim_start();
        let length = match UNITS.iter().find(|(name, _)| *name == unit) {
            Some((_, length)) => *length,
            None if unit == "m" && months_m => {
                used_months_m = true;
                30 * DAY
            }
            None if unit == "m" => {
                return Err(bad(
                    "`m` is ambiguous: write `min` for minutes or `mo` for months",
                ))
            }
            None if unit.is_empty() => return Err(bad("a number has no unit")),
            None => return Err(bad(&format!("unknown unit `{unit}`"))),
        };
        total = total.saturating_add(u64::from(number).saturating_mul(length));
    }
    Ok((HumanDuration { secs: total }, used_months_m))
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secs == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.secs;
        for (unit, length) in [
            ("y", 365 * DAY),
            ("mo", 30 * DAY),
            ("w", 7 * DAY),
            ("d", DAY),
            ("h", HOUR),
            ("min", MINUTE),
            ("s", 1),
        ] {
            let count = rest / length;
            if count > 0 {
                write!(f, "{count}{unit}")?;
                rest %= length;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl From<HumanDuration> for std::time::Duration {
    fn from(duration: HumanDuration) -> Self {
        duration.as_std()
    }
}

/// `#[serde(deserialize_with = "lifeboat_edge::duration::legacy_months")]` for the keys whose
/// values were written in lifeboat's first retention syntax (`keep_within`, `max_age`,
/// `[locks] stale_after`), where a bare `m` meant months: it still does for this release,
/// with a deprecation warning; write `mo`.
pub fn legacy_months<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<HumanDuration>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let (duration, used) =
        HumanDuration::parse_with_months_m(&text).map_err(serde::de::Error::custom)?;
    if used {
        crate::deprecation::warn_once(&format!(
            "the duration `{text}` uses `m` for months, which is deprecated: write `mo` \
             (e.g. \"6mo\"); a bare `m` will be refused as ambiguous in the next release"
        ));
    }
    Ok(Some(duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        let ok = [
            ("90s", 90, "1min30s"),
            ("10min", 600, "10min"),
            ("36h", 36 * HOUR, "1d12h"),
            ("14d", 14 * DAY, "2w"),
            ("2w", 14 * DAY, "2w"),
            ("1mo", 30 * DAY, "1mo"),
            ("1y", 365 * DAY, "1y"),
            ("1y6mo", (365 + 180) * DAY, "1y6mo"),
            (" 1w 3d  12h ", (10 * 24 + 12) * HOUR, "1w3d12h"),
            ("1d1d", 2 * DAY, "2d"),
            ("3days", 3 * DAY, "3d"),
            ("0d", 0, "0s"),
        ];
        for (input, secs, canonical) in ok {
            let duration: HumanDuration = input.parse().unwrap();
            assert_eq!(duration.as_secs(), secs, "{input}");
            assert_eq!(duration.to_string(), canonical, "{input}");
            assert_eq!(canonical.parse::<HumanDuration>().unwrap(), duration);
        }
        for bad in [
            "", " ", "d", "14", "14x", "14D", "1.5d", "-1d", "14 d", "3 days", "6m", "1y6m",
        ] {
            let err = bad.parse::<HumanDuration>().unwrap_err();
            assert!(
                err.to_string().contains("is not a duration"),
                "{bad}: {err}"
            );
        }
        assert!("99999999999d".parse::<HumanDuration>().is_err());
        let err = "6m".parse::<HumanDuration>().unwrap_err().to_string();
        assert!(err.contains("`min`") && err.contains("`mo`"), "{err}");
    }

    #[test]
    fn the_old_retention_syntax_reads_m_as_months() {
        assert_eq!(
            HumanDuration::parse_with_months_m("1y6m").unwrap(),
            (HumanDuration::from_days(365 + 180), true)
        );
        assert_eq!(
            HumanDuration::parse_with_months_m("36h").unwrap(),
            (HumanDuration::from_hours(36), false)
        );
        #[derive(Deserialize)]
        struct Keys {
            #[serde(default, deserialize_with = "legacy_months")]
            keep_within: Option<HumanDuration>,
        }
        let keys: Keys = toml::from_str("keep_within = \"6m\"").unwrap();
        assert_eq!(keys.keep_within, Some(HumanDuration::from_days(180)));
        let keys: Keys = toml::from_str("").unwrap();
        assert_eq!(keys.keep_within, None);
    }

    proptest::proptest! {
        #[test]
        fn canonical_text_round_trips(secs in 0u64..=(u64::from(u32::MAX))) {
            let duration = HumanDuration::from_secs(secs);
            let text = duration.to_string();
            proptest::prop_assert_eq!(text.parse::<HumanDuration>().unwrap(), duration);
        }

        #[test]
        fn parts_add_up(a in 0u32..100_000, b in 0u32..100_000) {
            let text = format!("{a}h {b}min");
            let duration: HumanDuration = text.parse().unwrap();
            proptest::prop_assert_eq!(duration.as_secs(), u64::from(a) * HOUR + u64::from(b) * MINUTE);
        }
    }
}
