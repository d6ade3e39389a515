//! The Redis store's descriptor: kind, formats, options and constructors in one place.

use std::path::Path;

use backup_core::store::{Capabilities, Descriptor, Store};
use backup_core::{FormatCheck, Source, StoreError, Target};

use crate::{RedisCheck, RedisDrill, RedisOptions, RedisSource, RedisTarget};

/// The Redis store, for the application's table of stores ([`DESCRIPTOR`]).
pub struct Redis;

/// This store's entry in the application's table of stores.
pub static DESCRIPTOR: Descriptor<Redis> = Descriptor::new();

impl Store for Redis {
    type Options = RedisOptions;
    const KIND: &'static str = crate::KIND;
    const FORMATS: &'static [&'static str] = crate::FORMATS;
    // Its targets say what a restore would create, find or conflict with, and `--deep`
    // restores into a scratch target of its own.
    const CAPABILITIES: Capabilities = Capabilities {
        dry_run: true,
        drill: true,
        archive: false,
    };

    fn resolve(options: &mut RedisOptions, base: &Path) -> Result<(), StoreError> {
        Ok(options.resolve(base)?)
    }

    fn source(options: &RedisOptions) -> Result<Box<dyn Source>, StoreError> {
        Ok(Box::new(RedisSource::new(options.clone())?))
    }

    fn target(options: &RedisOptions, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(RedisTarget::new(options, to)?))
    }

    fn format_check(_: &RedisOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(RedisCheck::new()))
    }

    fn drill(options: &RedisOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(RedisDrill::new(options)?))
    }
}
