//! [`DumpFormat`]: the two dump formats of this store, as a type the code dispatches on.

use backup_core::Manifest;

use crate::RedisError;

/// A dump format of this store (the manifest's `dump_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// `rdb`: an RDB file, as the server's `SYNC` sends it (or assembled from `DUMP`
    /// payloads after a fallback).
    Rdb,
    /// `redis-logical`: see the [crate docs](crate#the-redis-logical-format).
    Logical,
}

impl DumpFormat {
    /// Every format, in the order of [`crate::FORMATS`].
    pub const ALL: [DumpFormat; 2] = [DumpFormat::Rdb, DumpFormat::Logical];

    /// Its name in manifests.
    pub const fn name(self) -> &'static str {
        match self {
            DumpFormat::Rdb => crate::FORMAT_RDB,
            DumpFormat::Logical => crate::FORMAT_LOGICAL,
        }
    }

    /// The file extension of its artifacts.
    pub const fn extension(self) -> &'static str {
        match self {
            DumpFormat::Rdb => "rdb",
            DumpFormat::Logical => "rlog",
        }
    }

    /// The format named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The format of the backup `m` describes. The pipeline refuses other formats before a
    /// byte is read (`Target::formats`), so an error here means a caller went around it.
    pub(crate) fn of(m: &Manifest) -> Result<Self, RedisError> {
        Self::from_name(&m.dump_format).ok_or_else(|| RedisError::UnknownFormat {
            format: m.dump_format.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_formats_list() {
        let names: Vec<&str> = DumpFormat::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names, crate::FORMATS);
        for f in DumpFormat::ALL {
            assert_eq!(DumpFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(DumpFormat::from_name("pg_dump"), None);
    }
}
