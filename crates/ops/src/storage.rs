//! Opening the storages an operation needs.

use std::sync::Arc;

use backup_core::Sink;
use lifeboat_sinks::OpendalSink;

use crate::config::{Config, SourceConfig};
use crate::OpError;

/// Opens the named storage (touches nothing).
pub fn open(config: &Config, name: &str) -> Result<OpendalSink, OpError> {
    let storage = config
        .storages
        .get(name)
        .ok_or_else(|| OpError::UnknownStorage {
            name: name.to_string(),
            defined: config
                .storages
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    OpendalSink::new(name, storage).map_err(OpError::OpenStorage)
}

/// The storages of a source, or only `only` (which must be defined).
pub fn for_source(
    config: &Config,
    source: &SourceConfig,
    only: Option<&str>,
) -> Result<Vec<Arc<dyn Sink>>, OpError> {
    let open_shared = |name: &str| open(config, name).map(|sink| Arc::new(sink) as Arc<dyn Sink>);
    match only {
        Some(name) => Ok(vec![open_shared(name)?]),
        None => source
            .storage
            .iter()
            .map(|name| open_shared(name))
            .collect(),
    }
}
