//! Backup ids: `YYYYMMDDTHHMMSSZ-xxxxxx`, UTC time then a random suffix, so they sort by time.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const SUFFIX_LEN: usize = 6;

/// A backup's id: sortable by time, unique thanks to a random suffix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BackupId(String);

/// A string that is not a valid [`BackupId`].
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a backup id (expected YYYYMMDDTHHMMSSZ-xxxxxx)")]
pub struct InvalidBackupId(pub String);

impl BackupId {
    /// A new id for a backup started at `at`.
    pub fn new(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        let suffix: u32 = rand::thread_rng().gen_range(0..0x100_0000);
        Self(format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{suffix:06x}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        ))
    }

    /// The UTC second the backup started at, read back from the id.
    pub fn timestamp(&self) -> OffsetDateTime {
        // Every BackupId was validated by `parse_stamp` or built from a time.
        let stamp = self.0.split_once('-').map_or("", |(stamp, _)| stamp);
        parse_stamp(stamp).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for BackupId {
    type Err = InvalidBackupId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidBackupId(s.to_string());
        let (stamp, suffix) = s.split_once('-').ok_or_else(bad)?;
        let suffix_ok = suffix.len() == SUFFIX_LEN && suffix.bytes().all(|b| b.is_ascii_hexdigit());
        if suffix_ok && parse_stamp(stamp).is_some() {
            Ok(Self(s.to_string()))
        } else {
            Err(bad())
        }
    }
}

fn parse_stamp(stamp: &str) -> Option<OffsetDateTime> {
    let digits = stamp.strip_suffix('Z')?;
    let (date, clock) = digits.split_once('T')?;
    if date.len() != 8
        || clock.len() != 6
        || !date
            .bytes()
            .chain(clock.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let num = |s: &str| s.parse::<u32>().ok();
    let year = num(&date[..4])? as i32;
    let month = time::Month::try_from(num(&date[4..6])? as u8).ok()?;
    let day = num(&date[6..8])? as u8;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let clock = time::Time::from_hms(
        num(&clock[..2])? as u8,
        num(&clock[2..4])? as u8,
        num(&clock[4..6])? as u8,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

impl TryFrom<String> for BackupId {
    type Error = InvalidBackupId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<BackupId> for String {
    fn from(id: BackupId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ids_sort_by_time_and_round_trip() {
        let a = BackupId::new(datetime!(2026-01-02 03:04:05 UTC));
        let b = BackupId::new(datetime!(2026-01-02 03:04:06 UTC));
        assert!(a < b);
        assert!(a.as_str().starts_with("20260102T030405Z-"));
        assert_eq!(a.as_str().parse::<BackupId>().unwrap(), a);
    }

    #[test]
    fn rejects_paths_and_garbage() {
        for bad in [
            "../x",
            "20260102T030405Z",
            "20260102T030405Z-zzzzzz",
            "2026-01-02",
            "20261302T030405Z-abcdef",
        ] {
            assert!(bad.parse::<BackupId>().is_err(), "{bad}");
        }
    }
}
