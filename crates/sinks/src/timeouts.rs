//! How long a storage may take: OpenDAL's timeout layer below its retry layer (each attempt
//! bounded, so the retries are bounded too), and the [`Deadlines`] the sink and the backup
//! pipeline hold every call to (ARCHITECTURE.md, invariant 7).
//!
//! With the defaults, a storage that accepts connections and never answers is dropped within
//! 120 s, retries included (README.md, "Storage"); [`Timeouts::deadlines`] is the arithmetic.

use std::time::Duration;

use std::sync::Arc;

use backup_core::Deadlines;
use opendal::layers::{RetryInterceptor, RetryLayer, TimeoutLayer};

use crate::config::Secret;
use crate::service_error::short_text;

/// The first pause between two attempts; each next one doubles, up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);

/// The longest pause between two attempts (before jitter).
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The timeouts and retries of one storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// One request that moves no data (a stat, a delete, a rename, starting or aborting an
    /// upload), per attempt.
    pub timeout: Duration,
    /// One transfer, per attempt: one part of an upload, one range of a read, one page of a
    /// listing, finishing an upload.
    pub io_timeout: Duration,
    /// How many times a failed or timed-out request is tried again (object stores only).
    pub retries: u32,
}

impl Timeouts {
    /// The defaults of the object stores (s3, gcs, azblob): 10 s, 20 s, 3 retries. An upload
    /// part is 16 MiB by default, so `io_timeout` asks for at least 0.8 MiB/s.
    pub const OBJECT_STORE: Self = Self {
        timeout: Duration::from_secs(10),
        io_timeout: Duration::from_secs(20),
        retries: 3,
    };

    /// The defaults of a local (or mounted) directory: 30 s, 60 s, no retry (retrying a full
    /// disk would only delay the error). Generous, since finishing a file fsyncs it.
    pub const FS: Self = Self {
        timeout: Duration::from_secs(30),
        io_timeout: Duration::from_secs(60),
        retries: 0,
    };

    /// The longest all the pauses between attempts add up to: `BACKOFF_MIN` doubling up to
    /// `BACKOFF_MAX`, each pause up to twice as long with jitter.
    pub fn max_backoff(&self) -> Duration {
        let mut total = Duration::ZERO;
        let mut pause = BACKOFF_MIN;
        for _ in 0..self.retries {
            total = total.saturating_add(pause.saturating_mul(2));
            pause = pause.saturating_mul(2).min(BACKOFF_MAX);
        }
        total
    }

    /// How long a call of this storage may take before it is given up on:
    /// - `call`: every attempt at its longest timeout, plus every pause between attempts;
    /// - `abort`: one attempt of `timeout` (aborting is one small request, and an abort that
    ///   does not finish leaves nothing under the key).
    pub fn deadlines(&self) -> Deadlines {
        let attempts = self.retries.saturating_add(1);
        let per_attempt = self.timeout.max(self.io_timeout);
        Deadlines {
            call: per_attempt
                .saturating_mul(attempts)
                .saturating_add(self.max_backoff()),
            abort: self.timeout,
        }
    }

    /// OpenDAL's timeout layer with these timeouts. It goes *below* the retry layer, so each
    /// attempt is bounded and a timed-out attempt is retried (OpenDAL's `TimeoutLayer` docs).
    pub(crate) fn timeout_layer(&self) -> TimeoutLayer {
        TimeoutLayer::new()
            .with_timeout(self.timeout)
            .with_io_timeout(self.io_timeout)
    }

    /// OpenDAL's retry layer with the backoff [`Timeouts::max_backoff`] assumes; each retry
    /// of storage `storage` is logged in one short line (OpenDAL's own log line would print
    /// the whole error, response headers included).
    pub(crate) fn retry_layer(
        &self,
        storage: &str,
        secrets: Arc<Vec<Secret>>,
    ) -> RetryLayer<RetryLog> {
        RetryLayer::new()
            .with_notify(RetryLog {
                storage: storage.to_owned(),
                secrets,
            })
            .with_jitter()
            .with_factor(2.0)
            .with_min_delay(BACKOFF_MIN)
            .with_max_delay(BACKOFF_MAX)
            .with_max_times(usize::try_from(self.retries).unwrap_or(usize::MAX))
    }
}

/// Logs each retry of a storage's request: which storage, when, and why in one line.
pub(crate) struct RetryLog {
    storage: String,
    secrets: Arc<Vec<Secret>>,
}

impl RetryInterceptor for RetryLog {
    fn intercept(&self, err: &opendal::Error, pause: Duration) {
        let why = short_text(err, self.secrets.iter().map(Secret::expose));
        tracing::warn!(storage = %self.storage, "retrying in {:.1}s: {why}", pause.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README.md, "Storage": with the defaults, a storage that never answers is dropped within
    /// 120 s, retries and the abort included.
    #[test]
    fn the_defaults_drop_a_silent_storage_within_120_seconds() {
        let remote = Timeouts::OBJECT_STORE;
        // 4 attempts × 20 s + pauses (1 + 2 + 4 s, each up to doubled by jitter) = 94 s ...
        assert_eq!(remote.max_backoff(), Duration::from_secs(14));
        assert_eq!(remote.deadlines().call, Duration::from_secs(94));
        // ... then the abort, bounded by one 10 s attempt.
        assert_eq!(remote.deadlines().abort, Duration::from_secs(10));
        assert!(remote.deadlines().drop_after() <= Duration::from_secs(120));

        let fs = Timeouts::FS;
        assert_eq!(fs.max_backoff(), Duration::ZERO);
        assert_eq!(fs.deadlines().call, Duration::from_secs(60));
        assert!(fs.deadlines().drop_after() <= Duration::from_secs(120));

        assert!(Deadlines::DEFAULT.drop_after() <= Duration::from_secs(120));
    }

    #[test]
    fn backoff_stops_doubling_at_its_maximum() {
        let many = Timeouts {
            retries: 10,
            ..Timeouts::OBJECT_STORE
        };
        // 1, 2, 4, 8, 16, 32, then 60 s four times; doubled for jitter.
        assert_eq!(many.max_backoff(), Duration::from_secs(2 * (63 + 4 * 60)));
    }
}
