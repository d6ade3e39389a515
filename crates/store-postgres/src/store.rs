//! The PostgreSQL store's descriptor: kind, formats, options and constructors in one place.

use backup_core::store::{Capabilities, Descriptor, Store};
use backup_core::{FormatCheck, Source, StoreError, Target};

use crate::{PostgresCheck, PostgresDrill, PostgresOptions, PostgresSource, PostgresTarget};

/// The PostgreSQL store, for the application's table of stores ([`DESCRIPTOR`]).
pub struct Postgres;

/// This store's entry in the application's table of stores.
pub static DESCRIPTOR: Descriptor<Postgres> = Descriptor::new();

impl Store for Postgres {
    type Options = PostgresOptions;
    const KIND: &'static str = crate::KIND;
    const FORMATS: &'static [&'static str] = crate::FORMATS;
    // Its targets say what a restore would create, find or conflict with, and `--deep`
    // restores into a scratch target of its own.
    const CAPABILITIES: Capabilities = Capabilities {
        dry_run: true,
        drill: true,
        archive: false,
    };

    fn source(options: &PostgresOptions) -> Result<Box<dyn Source>, StoreError> {
        Ok(Box::new(PostgresSource::new(options.clone())?))
    }

    fn target(options: &PostgresOptions, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(PostgresTarget::new(options, to)?))
    }

    fn format_check(_: &PostgresOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(PostgresCheck::new()))
    }

    fn drill(options: &PostgresOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(PostgresDrill::new(options)?))
    }
}
