//! Opening the storages a command needs.

use std::sync::Arc;

use backup_core::Sink;
use lifeboat_sinks::OpendalSink;

use crate::config::{Config, SourceConfig};
use crate::exit::CliError;

/// Opens the named storage.
pub fn open(config: &Config, name: &str) -> Result<Arc<dyn Sink>, CliError> {
    Ok(Arc::new(open_opendal(config, name)?))
}

/// Opens the named storage as its concrete type (touches nothing).
pub fn open_opendal(config: &Config, name: &str) -> Result<OpendalSink, CliError> {
    let storage = config.storages.get(name).ok_or_else(|| {
        CliError::usage(format!(
            "no storage named `{name}` (defined: {})",
            config
                .storages
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    // SinksError messages already name the storage.
    let sink = OpendalSink::new(name, storage).map_err(|e| match e {
        lifeboat_sinks::SinksError::LocalDir { .. }
        | lifeboat_sinks::SinksError::Backend { .. } => CliError::failure(e),
        _ => CliError::usage(e),
    })?;
    Ok(sink)
}

/// The storages of a source, or only `only` (which must be defined).
pub fn for_source(
    config: &Config,
    source: &SourceConfig,
    only: Option<&str>,
) -> Result<Vec<Arc<dyn Sink>>, CliError> {
    match only {
        Some(name) => Ok(vec![open(config, name)?]),
        None => source
            .storage
            .iter()
            .map(|name| open(config, name))
            .collect(),
    }
}
