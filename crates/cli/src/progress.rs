//! A progress bar on a terminal (indicatif); nothing when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::Arc;

use backup_core::io::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// An indicatif bar fed by the pipeline.
pub struct Bar(ProgressBar);

impl Progress for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Bar {
    /// Clears the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A bar labelled `label`, with `total` bytes if known; `None` when stderr is not a terminal.
pub fn bar(label: &str, total: Option<u64>) -> Option<Arc<Bar>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if total.is_some() {
        "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
    } else {
        "{prefix} {spinner} {bytes} {binary_bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_string());
    Some(Arc::new(Bar(bar)))
}
