//! From a source's config to the store objects that back it up, restore it and check it.

use std::path::Path;

use backup_core::{FormatCheck, Source, Target};
use store_files::{FilesCheck, FilesSource, FilesTarget};
use store_sqlite::{SqliteCheck, SqliteSource, SqliteTarget};

use crate::config::{SourceConfig, SourceKind};
use crate::exit::CliError;

fn planned(kind: &str) -> CliError {
    CliError::usage(format!(
        "sources of kind `{kind}` are not supported by this build of lifeboat yet"
    ))
}

/// The backup side of a source.
pub fn source_for(config: &SourceConfig) -> Result<Box<dyn Source>, CliError> {
    match &config.kind {
        SourceKind::Sqlite(o) => Ok(Box::new(SqliteSource::new(o.path.clone()))),
        SourceKind::Files(o) => FilesSource::new(o.paths.clone(), o.exclude.clone())
            .map(|s| Box::new(s) as Box<dyn Source>)
            .map_err(|e| CliError::usage(format!("source `{}`: {e}", config.name))),
        SourceKind::Planned { kind } => Err(planned(kind)),
    }
}

/// The restore side: the source's own location, or `to`.
pub fn target_for(config: &SourceConfig, to: Option<&Path>) -> Result<Box<dyn Target>, CliError> {
    match (&config.kind, to) {
        (SourceKind::Sqlite(_), Some(to)) => Ok(Box::new(SqliteTarget::new(to.to_path_buf()))),
        (SourceKind::Sqlite(o), None) => Ok(Box::new(SqliteTarget::new(o.path.clone()))),
        (SourceKind::Files(_), Some(to)) => Ok(Box::new(FilesTarget::new(to.to_path_buf()))),
        (SourceKind::Files(_), None) => Err(CliError::usage(format!(
            "source `{}` is a files archive: say where to unpack it with --to DIR",
            config.name
        ))),
        (SourceKind::Planned { kind }, _) => Err(planned(kind)),
    }
}

/// The format check `verify` runs, chosen by the manifest's dump format.
pub fn check_for(dump_format: &str) -> Result<Box<dyn FormatCheck>, CliError> {
    match dump_format {
        "sqlite-db" => Ok(Box::new(SqliteCheck::new())),
        "tar" => Ok(Box::new(FilesCheck::new())),
        other => Err(CliError::failure(format!(
            "this build cannot check dumps of format `{other}`"
        ))),
    }
}
