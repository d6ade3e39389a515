//! [`KeepWithin`]: the `keep_within` duration, written like `"14d"`, `"36h"` or `"1y6m"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::Duration;

/// Seconds in one hour.
const HOUR: i64 = 3_600;
/// Seconds in one day (24 h: durations are fixed lengths, not calendar arithmetic).
const DAY: i64 = 24 * HOUR;

/// The `keep_within` duration: keep every backup started at most this long before `now`.
///
/// Written as one or more `<integer><unit>` parts, optionally separated by spaces, e.g. `"14d"`,
/// `"36h"`, `"2w"`, `"1y6m"`, `"1w 3d 12h"`. Units (lowercase only) have **fixed lengths**, the
/// calendar is not consulted:
///
/// | unit | meaning | length       |
/// |------|---------|--------------|
/// | `h`  | hours   | 1 h          |
/// | `d`  | days    | 24 h         |
/// | `w`  | weeks   | 7 d          |
/// | `m`  | months  | 30 d         |
/// | `y`  | years   | 365 d        |
///
/// `m` is months (as in restic's `--keep-within 1y5m`), never minutes. A unit may appear more
/// than once (the parts add up). The empty string, a missing number or unit, an unknown unit and
/// a number that does not fit a `u32` are errors. It (de)serializes as that string; serializing
/// writes the canonical form (`y m w d h`, zero parts omitted, `"0h"` for zero), so `"1w 3d"`
/// reads back as `"1w3d"`.
///
/// ```
/// use backup_core::retention::KeepWithin;
///
/// let within: KeepWithin = "1w 3d".parse()?;
/// assert_eq!(within.duration(), time::Duration::days(10));
/// assert_eq!(within.to_string(), "1w3d");
/// assert!("3 days".parse::<KeepWithin>().is_err());
/// # Ok::<(), backup_core::retention::InvalidKeepWithin>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeepWithin {
    /// Years of 365 days.
    pub years: u32,
    /// Months of 30 days.
    pub months: u32,
    /// Weeks of 7 days.
    pub weeks: u32,
    /// Days of 24 hours.
    pub days: u32,
    /// Hours.
    pub hours: u32,
}

/// A string that is not a valid [`KeepWithin`] duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a keep_within duration: {problem} \
     (expected e.g. \"14d\", \"36h\", \"2w\", \"1y6m\"; units h, d, w, m = 30 days, y = 365 days)"
)]
pub struct InvalidKeepWithin {
    /// The string that was rejected.
    pub input: String,
    /// What is wrong with it.
    pub problem: String,
}

impl KeepWithin {
    /// The total length, with the fixed unit lengths documented on [`KeepWithin`].
    pub fn duration(&self) -> Duration {
        // u32::MAX * 365 days is about 1.4e17 s, and the five parts sum to under 2e17 s: far
        // from i64::MAX (9.2e18), so this cannot overflow.
        let secs = i64::from(self.years) * 365 * DAY
            + i64::from(self.months) * 30 * DAY
            + i64::from(self.weeks) * 7 * DAY
            + i64::from(self.days) * DAY
            + i64::from(self.hours) * HOUR;
        Duration::seconds(secs)
    }

    /// Whether the duration is zero (`"0h"`, `"0d"`...). A zero `keep_within` is no rule at all,
    /// like a zero count (see [`KeepOptions::is_empty`](super::KeepOptions::is_empty)).
    pub fn is_zero(&self) -> bool {
        self.duration().is_zero()
    }
}

impl fmt::Display for KeepWithin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.weeks, 'w'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ];
        let mut wrote = false;
        for (n, unit) in parts {
            if n > 0 {
                write!(f, "{n}{unit}")?;
                wrote = true;
            }
        }
        if !wrote {
            f.write_str("0h")?;
        }
        Ok(())
    }
}

impl FromStr for KeepWithin {
    type Err = InvalidKeepWithin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |problem: &str| InvalidKeepWithin {
            input: s.to_string(),
            problem: problem.to_string(),
        };
        let mut out = KeepWithin::default();
        let mut rest = s.trim_start();
        if rest.is_empty() {
            return Err(bad("it is empty"));
        }
        while !rest.is_empty() {
            let digits_end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits_end == 0 {
                return Err(bad("expected a number"));
            }
            let n: u32 = rest[..digits_end]
                .parse()
                .map_err(|_| bad("the number is too large"))?;
            let mut chars = rest[digits_end..].chars();
            let field = match chars.next() {
                Some('y') => &mut out.years,
                Some('m') => &mut out.months,
                Some('w') => &mut out.weeks,
                Some('d') => &mut out.days,
                Some('h') => &mut out.hours,
                Some(_) => return Err(bad("unknown unit")),
                None => return Err(bad("a number without a unit")),
            };
            *field = field.saturating_add(n);
            rest = chars.as_str().trim_start();
        }
        Ok(out)
    }
}

impl TryFrom<String> for KeepWithin {
    type Error = InvalidKeepWithin;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<KeepWithin> for String {
    fn from(within: KeepWithin) -> Self {
        within.to_string()
    }
}
