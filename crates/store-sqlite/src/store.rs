//! The SQLite store's descriptor: kind, format, options and constructors in one place.

use std::path::{Path, PathBuf};

use backup_core::store::{resolve_path, Capabilities, Descriptor, Store};
use backup_core::{FormatCheck, Source, StoreError, Target};

use crate::{SqliteCheck, SqliteOptions, SqliteSource, SqliteTarget};

/// The `kind` of this store in `lifeboat.toml` and the manifest.
pub const KIND: &str = "sqlite";

/// The one dump format: the database file itself.
pub const FORMAT: &str = "sqlite-db";

/// The dump formats this store writes and reads.
pub const FORMATS: &[&str] = &[FORMAT];

/// The SQLite store, for the application's table of stores ([`DESCRIPTOR`]).
pub struct Sqlite;

/// This store's entry in the application's table of stores.
pub static DESCRIPTOR: Descriptor<Sqlite> = Descriptor::new();

impl Store for Sqlite {
    type Options = SqliteOptions;
    const KIND: &'static str = KIND;
    const FORMATS: &'static [&'static str] = FORMATS;
    // The format check already restores into a private copy, so `--deep` needs no drill, and
    // a dry run is the format check plus the target's refusal rule.
    const CAPABILITIES: Capabilities = Capabilities::NONE;

    fn resolve(options: &mut SqliteOptions, base: &Path) -> Result<(), StoreError> {
        options.path = resolve_path(base, &options.path);
        Ok(())
    }

    fn source(options: &SqliteOptions) -> Result<Box<dyn Source>, StoreError> {
        Ok(Box::new(SqliteSource::new(options.path.clone())))
    }

    fn target(options: &SqliteOptions, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        let path = to.map_or_else(|| options.path.clone(), PathBuf::from);
        Ok(Box::new(SqliteTarget::new(path)))
    }

    fn format_check(_: &SqliteOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(SqliteCheck::new()))
    }
}
