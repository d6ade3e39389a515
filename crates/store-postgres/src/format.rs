//! [`ArtifactFormat`]: the three dump formats of this store's backups, as a type to dispatch
//! on (the manifest's `dump_format` names one of them).

use backup_core::Manifest;

use crate::error::PostgresError;
use crate::options::DumpFormat;
use crate::{FORMAT_BUNDLE, FORMAT_CUSTOM, FORMAT_PLAIN};

/// What a postgres backup's data object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactFormat {
    /// One database's `pg_dump --format=custom -Z0` output (`pg_dump-custom`, `.dump`).
    Custom,
    /// One database's `pg_dump --format=plain` script (`pg_dump-plain`, `.sql`).
    Plain,
    /// Several dumps (databases, globals) in one [`bundle`](crate::bundle)
    /// (`pg_dump-bundle`, `.pgbundle`).
    Bundle,
}

impl ArtifactFormat {
    /// The manifest's `dump_format` of this format.
    pub fn name(self) -> &'static str {
        match self {
            ArtifactFormat::Custom => FORMAT_CUSTOM,
            ArtifactFormat::Plain => FORMAT_PLAIN,
            ArtifactFormat::Bundle => FORMAT_BUNDLE,
        }
    }

    /// The data object's file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ArtifactFormat::Custom => "dump",
            ArtifactFormat::Plain => "sql",
            ArtifactFormat::Bundle => "pgbundle",
        }
    }

    /// The format named `dump_format`, if it is one of this store's.
    pub fn parse(dump_format: &str) -> Option<Self> {
        [
            ArtifactFormat::Custom,
            ArtifactFormat::Plain,
            ArtifactFormat::Bundle,
        ]
        .into_iter()
        .find(|format| format.name() == dump_format)
    }

    /// The format of `manifest`'s backup. The pipeline refuses other formats before a target
    /// or check sees the manifest; a library caller handing one in directly gets the error.
    pub fn of(manifest: &Manifest) -> Result<Self, PostgresError> {
        Self::parse(&manifest.dump_format).ok_or_else(|| PostgresError::WrongDumpFormat {
            found: manifest.dump_format.clone(),
        })
    }

    /// The format of a single database's dump; `None` for a bundle, whose parts say theirs.
    pub fn single(self) -> Option<DumpFormat> {
        match self {
            ArtifactFormat::Custom => Some(DumpFormat::Custom),
            ArtifactFormat::Plain => Some(DumpFormat::Plain),
            ArtifactFormat::Bundle => None,
        }
    }

    /// The artifact a single database's dump of `format` makes.
    pub fn of_dump(format: DumpFormat) -> Self {
        match format {
            DumpFormat::Custom => ArtifactFormat::Custom,
            DumpFormat::Plain => ArtifactFormat::Plain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_formats_list() {
        for name in crate::FORMATS {
            assert_eq!(
                ArtifactFormat::parse(name).map(ArtifactFormat::name),
                Some(*name)
            );
        }
        assert_eq!(ArtifactFormat::parse("redis-rdb"), None);
        assert_eq!(
            ArtifactFormat::of_dump(DumpFormat::Plain).single(),
            Some(DumpFormat::Plain)
        );
        assert_eq!(ArtifactFormat::Bundle.single(), None);
    }
}
