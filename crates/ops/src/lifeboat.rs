//! [`Lifeboat`]: a loaded config and an observer — what every operation runs on.

use std::sync::Arc;

use crate::config::{Config, SourceConfig};
use crate::observe::{Observer, Quiet};
use crate::OpError;

/// The operations over one configuration. Cheap to clone (the config is shared).
#[derive(Clone)]
pub struct Lifeboat {
    config: Arc<Config>,
    observer: Arc<dyn Observer>,
}

impl Lifeboat {
    /// Operations over `config`, showing nothing and logging warnings.
    pub fn new(config: Config) -> Self {
        Self::shared(Arc::new(config))
    }

    /// Operations over a shared `config`.
    pub fn shared(config: Arc<Config>) -> Self {
        Self {
            config,
            observer: Arc::new(Quiet),
        }
    }

    /// The same operations, watched by `observer` (progress bars, warnings).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The shared configuration.
    pub fn shared_config(&self) -> &Arc<Config> {
        &self.config
    }

    pub(crate) fn observer(&self) -> &dyn Observer {
        self.observer.as_ref()
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> Result<&SourceConfig, OpError> {
        self.config
            .source(name)
            .ok_or_else(|| OpError::UnknownSource {
                name: name.to_string(),
                config: self.config.path.display().to_string(),
                defined: self
                    .config
                    .sources
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The sources an operation acts on: the named ones (each must exist; a name given twice
    /// counts once), or all of them.
    pub fn select(&self, names: &[String]) -> Result<Vec<&SourceConfig>, OpError> {
        if names.is_empty() {
            return Ok(self.config.sources.iter().collect());
        }
        let mut selected: Vec<&SourceConfig> = Vec::new();
        for name in names {
            let source = self.source(name)?;
            if !selected.iter().any(|s| s.name == source.name) {
                selected.push(source);
            }
        }
        Ok(selected)
    }

    /// One source by name, or all of them.
    pub fn select_one_or_all(&self, name: Option<&str>) -> Result<Vec<&SourceConfig>, OpError> {
        match name {
            Some(name) => Ok(vec![self.source(name)?]),
            None => Ok(self.config.sources.iter().collect()),
        }
    }
}

impl std::fmt::Debug for Lifeboat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifeboat")
            .field("config", &self.config.path)
            .finish_non_exhaustive()
    }
}
