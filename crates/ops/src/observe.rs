//! [`Observer`]: how an application watches operations as they run — progress bars for long
//! streams, and warnings a person must see whatever the log level. The CLI draws indicatif
//! bars on a terminal; a service embedding the library can count bytes or do nothing.

use std::sync::Arc;

use backup_core::io::Progress;

/// A progress display of one stream.
pub trait ProgressBar: Send + Sync {
    /// `bytes` more went through.
    fn advance(&self, bytes: u64);

    /// The stream ended (or failed): clear the display.
    fn finish(&self);
}

/// Watches operations; every method has a default that does nothing beyond logging.
pub trait Observer: Send + Sync {
    /// A progress display for a stream labelled `label` of `total` bytes (when known), or
    /// `None` for none.
    fn progress(&self, label: &str, total: Option<u64>) -> Option<Arc<dyn ProgressBar>> {
        let _ = (label, total);
        None
    }

    /// Something the person running the operation must know even with logs turned down
    /// (e.g. an incomplete catalog behind `--id latest`).
    fn warning(&self, message: &str) {
        tracing::warn!("{message}");
    }
}

/// An observer that shows nothing and logs warnings.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Observer for Quiet {}

/// One stream's display, finished when dropped (on every path, errors included).
pub(crate) struct Shown(Option<Arc<dyn ProgressBar>>);

impl Shown {
    /// Asks `observer` for a display.
    pub(crate) fn new(observer: &dyn Observer, label: &str, total: Option<u64>) -> Self {
        Self(observer.progress(label, total))
    }

    /// What the pipeline reports bytes to.
    pub(crate) fn progress(&self) -> Option<Arc<dyn Progress>> {
        self.0
            .clone()
            .map(|bar| Arc::new(Feed(bar)) as Arc<dyn Progress>)
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish();
        }
    }
}

/// The pipeline's [`Progress`] feeding a [`ProgressBar`].
struct Feed(Arc<dyn ProgressBar>);

impl Progress for Feed {
    fn advance(&self, bytes: u64) {
        self.0.advance(bytes);
    }
}
