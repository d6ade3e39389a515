//! Cron schedules (croner; a sixth, leading field for seconds is allowed).

use std::str::FromStr;

use time::OffsetDateTime;

/// A parsed cron pattern.
pub struct Schedule(croner::Cron);

impl Schedule {
    /// Parses `pattern` (already validated when the config was loaded).
    pub fn parse(pattern: &str) -> Option<Self> {
        croner::Cron::from_str(pattern).ok().map(Self)
    }

    /// The first tick strictly after `after` (UTC).
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let start = chrono::DateTime::from_timestamp(after.unix_timestamp(), after.nanosecond())?;
        let next = self.0.find_next_occurrence(&start, false).ok()?;
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
}
