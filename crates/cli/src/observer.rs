//! The terminal's [`Observer`]: indicatif progress bars on stderr when it is a terminal, and
//! warnings printed whatever the log level.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressDrawTarget, ProgressStyle};
use lifeboat::{Observer, ProgressBar};

/// Progress bars and warnings on stderr.
#[derive(Debug, Default, Clone, Copy)]
pub struct Terminal;

/// An indicatif bar.
struct Bar(indicatif::ProgressBar);

impl ProgressBar for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Observer for Terminal {
    fn progress(&self, label: &str, total: Option<u64>) -> Option<Arc<dyn ProgressBar>> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
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

    fn warning(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}
