//! [`Schedule`]: a cron pattern (croner; a sixth, leading field for seconds is allowed),
//! parsed when the config is read, so a bad `schedule` or `verify_schedule` is a config error
//! with its line and never a daemon that silently does not run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use time::{Duration, OffsetDateTime};

/// How many upcoming ticks [`Schedule::longest_gap`] looks at.
const GAP_TICKS: usize = 64;

/// A parsed cron pattern, evaluated in UTC.
#[derive(Clone)]
pub struct Schedule {
    pattern: String,
    cron: croner::Cron,
}

/// A text that is not a cron pattern.
#[derive(Debug, thiserror::Error)]
#[error("`{pattern}` is not a cron pattern: {error}")]
pub struct InvalidSchedule {
    /// The text.
    pub pattern: String,
    /// croner's reason.
    #[source]
    pub error: croner::errors::CronError,
}

impl Schedule {
    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let start = chrono::DateTime::from_timestamp(after.unix_timestamp(), after.nanosecond())?;
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        OffsetDateTime::from_unix_timestamp(next.timestamp()).ok()
    }

    /// How many ticks fall in `(from, to]`, counting at most `cap`.
    pub fn ticks_between(&self, from: OffsetDateTime, to: OffsetDateTime, cap: u32) -> u32 {
        let mut count = 0;
        let mut at = from;
        while count < cap {
            match self.next_after(at) {
                Some(next) if next <= to => {
                    count += 1;
                    at = next;
                }
                _ => break,
            }
        }
        count
    }

    /// The longest gap between the next ticks after `now` (at most 64 ticks, over at most
    /// 8 days), so an uneven schedule (weekdays only; 02:00 and 03:00) is judged by its
    /// longest quiet time, not by whichever gap comes next.
    pub fn longest_gap(&self, now: OffsetDateTime) -> Option<Duration> {
        let horizon = now + Duration::days(8);
        let mut previous = self.next_after(now)?;
        let mut longest = Duration::ZERO;
        for _ in 0..GAP_TICKS {
            let Some(next) = self.next_after(previous) else {
                break;
            };
            longest = longest.max(next - previous);
            if next > horizon {
                break;
            }
            previous = next;
        }
        (longest > Duration::ZERO).then_some(longest)
    }
}

impl FromStr for Schedule {
    type Err = InvalidSchedule;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        croner::Cron::from_str(pattern)
            .map(|cron| Self {
                pattern: pattern.to_string(),
                cron,
            })
            .map_err(|error| InvalidSchedule {
                pattern: pattern.to_string(),
                error,
            })
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.pattern)
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pattern = String::deserialize(deserializer)?;
        pattern.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn schedule(pattern: &str) -> Schedule {
        pattern.parse().unwrap()
    }

    #[test]
    fn the_longest_gap_of_an_uneven_schedule_counts() {
        // Monday 01:00: the next gap is a day, the longest (Friday to Monday) three.
        let monday = datetime!(2026-11-23 01:00 UTC);
        assert_eq!(
            schedule("0 2 * * 1-5").longest_gap(monday),
            Some(Duration::hours(72))
        );
        assert_eq!(
            schedule("0 2,3 * * *").longest_gap(monday),
            Some(Duration::hours(23))
        );
        assert_eq!(
            schedule("0 */2 * * *").longest_gap(monday),
            Some(Duration::hours(2))
        );
    }

    #[test]
    fn ticks_and_bad_patterns() {
        let every_minute = schedule("* * * * *");
        let at = datetime!(2026-11-23 01:00:30 UTC);
        assert_eq!(
            every_minute.next_after(at),
            Some(datetime!(2026-11-23 01:01 UTC))
        );
        assert_eq!(
            every_minute.ticks_between(at, at + Duration::minutes(5), 100),
            5
        );
        let err = "every day at two".parse::<Schedule>().unwrap_err();
        assert!(err.to_string().contains("not a cron pattern"), "{err}");
    }
}
