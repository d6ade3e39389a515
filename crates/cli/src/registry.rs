//! From a source's config to the store objects that back it up, restore it and check it.

use std::path::PathBuf;

use backup_core::{FormatCheck, Source, Target};
use store_files::{FilesCheck, FilesSource, FilesTarget};
use store_postgres::{PostgresCheck, PostgresDrill, PostgresSource, PostgresTarget};
use store_rabbitmq::{RabbitmqCheck, RabbitmqDrill, RabbitmqSource, RabbitmqTarget};
use store_redis::{RedisCheck, RedisDrill, RedisSource, RedisTarget};
use store_sqlite::{SqliteCheck, SqliteSource, SqliteTarget};

use crate::config::{SourceConfig, SourceKind};
use crate::exit::CliError;

/// A store's refusal of its options, as a usage error naming the source.
fn usage(config: &SourceConfig) -> impl Fn(&dyn std::fmt::Display) -> CliError + '_ {
    move |e| CliError::usage(format!("source `{}`: {e}", config.name))
}

/// The backup side of a source.
pub fn source_for(config: &SourceConfig) -> Result<Box<dyn Source>, CliError> {
    let usage = usage(config);
    Ok(match &config.kind {
        SourceKind::Sqlite(o) => Box::new(SqliteSource::new(o.path.clone())),
        SourceKind::Files(o) => {
            Box::new(FilesSource::new(o.paths.clone(), o.exclude.clone()).map_err(|e| usage(&e))?)
        }
        SourceKind::Postgres(o) => Box::new(PostgresSource::new(o.clone()).map_err(|e| usage(&e))?),
        SourceKind::Redis(o) => Box::new(RedisSource::new(o.clone()).map_err(|e| usage(&e))?),
        SourceKind::Rabbitmq(o) => Box::new(RabbitmqSource::new(o.clone()).map_err(|e| usage(&e))?),
    })
}

/// The restore side: the source's own location, or `to` (a path for sqlite and files, a URL
/// or path for the server stores, as each store documents).
pub fn target_for(config: &SourceConfig, to: Option<&str>) -> Result<Box<dyn Target>, CliError> {
    let usage = usage(config);
    Ok(match (&config.kind, to) {
        (SourceKind::Sqlite(_), Some(to)) => Box::new(SqliteTarget::new(PathBuf::from(to))),
        (SourceKind::Sqlite(o), None) => Box::new(SqliteTarget::new(o.path.clone())),
        (SourceKind::Files(_), Some(to)) => Box::new(FilesTarget::new(PathBuf::from(to))),
        (SourceKind::Files(_), None) => {
            return Err(CliError::usage(format!(
                "source `{}` is a files archive: say where to unpack it with --to DIR",
                config.name
            )))
        }
        (SourceKind::Postgres(o), to) => {
            Box::new(PostgresTarget::new(o, to).map_err(|e| usage(&e))?)
        }
        (SourceKind::Redis(o), to) => Box::new(RedisTarget::new(o, to).map_err(|e| usage(&e))?),
        (SourceKind::Rabbitmq(o), to) => {
            Box::new(RabbitmqTarget::new(o, to).map_err(|e| usage(&e))?)
        }
    })
}

/// Whether the source's target reports a `--dry-run` itself (the server stores: what would
/// be created, what exists, what conflicts). For the others the CLI runs the format check and
/// the target's emptiness test instead.
pub fn target_does_dry_run(config: &SourceConfig) -> bool {
    !matches!(config.kind, SourceKind::Sqlite(_) | SourceKind::Files(_))
}

/// The check `verify` runs on a backup of `config`: the format check chosen by the manifest's
/// dump format, or with `deep` the store's restore drill into a scratch target. SQLite and
/// files checks already restore into a scratch copy, so `deep` changes nothing for them.
pub fn check_for(
    config: &SourceConfig,
    dump_format: &str,
    deep: bool,
) -> Result<Box<dyn FormatCheck>, CliError> {
    let usage = usage(config);
    if deep {
        match &config.kind {
            SourceKind::Postgres(o) => {
                return Ok(Box::new(PostgresDrill::new(o).map_err(|e| usage(&e))?))
            }
            SourceKind::Redis(o) => {
                return Ok(Box::new(RedisDrill::new(o).map_err(|e| usage(&e))?))
            }
            SourceKind::Rabbitmq(o) => {
                return Ok(Box::new(RabbitmqDrill::new(o).map_err(|e| usage(&e))?))
            }
            SourceKind::Sqlite(_) | SourceKind::Files(_) => {}
        }
    }
    Ok(match dump_format {
        "sqlite-db" => Box::new(SqliteCheck::new()),
        "tar" => Box::new(FilesCheck::new()),
        f if store_postgres::DUMP_FORMATS.contains(&f) => Box::new(PostgresCheck::new()),
        f if store_redis::DUMP_FORMATS.contains(&f) => Box::new(RedisCheck::new()),
        f if store_rabbitmq::DUMP_FORMATS.contains(&f) => Box::new(RabbitmqCheck::new()),
        other => {
            return Err(CliError::failure(format!(
                "this build cannot check dumps of format `{other}`"
            )))
        }
    })
}
