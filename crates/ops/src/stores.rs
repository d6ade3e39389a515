//! The table of stores this build knows (ARCHITECTURE.md, "The store shape"), and the store
//! objects of one configured source.

use backup_core::store::StoreDescriptor;
use backup_core::{FormatCheck, Source, Target};

use crate::config::SourceConfig;
use crate::OpError;

/// Every store of this build: adding a store is one line here (and its crate in
/// `Cargo.toml`).
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

/// A store's refusal of a source's options, naming the source (a usage error).
fn refused(source: &SourceConfig) -> impl Fn(backup_core::StoreError) -> OpError + '_ {
    move |error| OpError::Store {
        source_name: source.name.clone(),
        error,
    }
}

/// The backup side of a source.
pub fn source_of(source: &SourceConfig) -> Result<Box<dyn Source>, OpError> {
    source.store.source().map_err(refused(source))
}

/// The restore side: the source's own location, or `to`.
pub fn target_of(source: &SourceConfig, to: Option<&str>) -> Result<Box<dyn Target>, OpError> {
    source.store.target(to).map_err(refused(source))
}

/// The check `verify` runs: with `deep`, the store's restore drill if it has one.
pub fn check_of(source: &SourceConfig, deep: bool) -> Result<Box<dyn FormatCheck>, OpError> {
    if deep && source.store.capabilities().drill {
        source.store.drill().map_err(refused(source))
    } else {
        source.store.format_check().map_err(refused(source))
    }
}
