//! The table of stores this build knows, and the store objects of one source.

use backup_core::store::StoreDescriptor;
use backup_core::{FormatCheck, Source, StoreError, Target};

use crate::config::SourceConfig;
use crate::exit::CliError;

/// Every store of this build: adding a store is one line here.
pub static STORES: &[&dyn StoreDescriptor] = &[
    &store_sqlite::DESCRIPTOR,
    &store_files::DESCRIPTOR,
    &store_postgres::DESCRIPTOR,
    &store_redis::DESCRIPTOR,
    &store_rabbitmq::DESCRIPTOR,
];

/// The store called `kind`.
pub fn store(kind: &str) -> Option<&'static dyn StoreDescriptor> {
    STORES.iter().copied().find(|s| s.kind() == kind)
}

/// A store's refusal of its options, as a usage error naming the source.
fn usage(config: &SourceConfig) -> impl Fn(StoreError) -> CliError + '_ {
    move |e| CliError::usage(format!("source `{}`: {e}", config.name))
}

/// The backup side of a source.
pub fn source_for(config: &SourceConfig) -> Result<Box<dyn Source>, CliError> {
    config.store.source().map_err(usage(config))
}

/// The restore side: the source's own location, or `to`.
pub fn target_for(config: &SourceConfig, to: Option<&str>) -> Result<Box<dyn Target>, CliError> {
    config.store.target(to).map_err(usage(config))
}

/// Whether the source's target reports a `--dry-run` itself.
pub fn target_does_dry_run(config: &SourceConfig) -> bool {
    config.store.capabilities().dry_run
}

/// The check `verify` runs on a backup of `config`: with `deep`, the store's restore drill.
pub fn check_for(
    config: &SourceConfig,
    _dump_format: &str,
    deep: bool,
) -> Result<Box<dyn FormatCheck>, CliError> {
    if deep && config.store.capabilities().drill {
        config.store.drill().map_err(usage(config))
    } else {
        config.store.format_check().map_err(usage(config))
    }
}
