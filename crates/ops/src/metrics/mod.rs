//! Prometheus metrics of backups, verifies and notifications (README, "The daemon and its
//! metrics").
//!
//! [`Metrics`] holds one registry (prometheus-client) with these families, labelled by
//! `source` unless said otherwise:
//!
//! | name as exposed | type | what |
//! | --- | --- | --- |
//! | `lifeboat_backup_success_total` | counter | backups that reached every storage |
//! | `lifeboat_backup_failure_total` | counter | backups that failed or missed a storage |
//! | `lifeboat_backup_last_success_timestamp_seconds` | gauge | unix time the last success ended |
//! | `lifeboat_backup_duration_seconds` | gauge | duration of the last run, success or not |
//! | `lifeboat_backup_size_bytes` | gauge | stored bytes of the last success |
//! | `lifeboat_backup_raw_size_bytes` | gauge | raw (dump) bytes of the last success |
//! | `lifeboat_verify_last_success_timestamp_seconds` | gauge | unix time of the last good verify |
//! | `lifeboat_verify_failure_total` | counter | verifies that failed |
//! | `lifeboat_backup_skipped_total` | counter | scheduled runs skipped: the previous one still ran |
//! | `lifeboat_notification_failure_total` | counter, no label | notifications not delivered |
//!
//! [`Metrics::encode`] gives the OpenMetrics text the daemon serves on `/metrics`;
//! [`Metrics::encode_textfile`] gives the same metrics in the Prometheus text format that the
//! node exporter's textfile collector parses, and [`write_textfile`] writes it atomically
//! (`lifeboat backup --metrics-file PATH`).

mod textfile;

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

pub use textfile::{to_prometheus_text, write_textfile};

/// The label set of the per-source families: `{source="<name>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SourceLabels {
    /// The source's name from the config.
    pub source: String,
}

impl SourceLabels {
    fn of(source: &str) -> Self {
        Self {
            source: source.to_string(),
        }
    }
}

/// How one backup of a source ended, as the metrics record it.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupRecord {
    /// The backup reached every storage and nothing failed.
    pub success: bool,
    /// Wall time of the run in seconds (0 when unknown).
    pub duration_seconds: f64,
    /// Raw (dump) bytes, when the backup got that far.
    pub raw_bytes: Option<u64>,
    /// Stored bytes (after compression and encryption), when the backup got that far.
    pub stored_bytes: Option<u64>,
    /// When the run ended, in unix seconds.
    pub finished_at_unix: i64,
}

/// A gauge holding an `f64`.
type FloatGauge = Gauge<f64, AtomicU64>;
/// A gauge holding a byte count.
type BytesGauge = Gauge<u64, AtomicU64>;

/// The metrics of one process: a registry and handles on its families. `Send + Sync`: share
/// it through an `Arc`; recording takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    backup_success: Family<SourceLabels, Counter>,
    backup_failure: Family<SourceLabels, Counter>,
    backup_last_success: Family<SourceLabels, Gauge>,
    backup_duration: Family<SourceLabels, FloatGauge>,
    backup_size: Family<SourceLabels, BytesGauge>,
    backup_raw_size: Family<SourceLabels, BytesGauge>,
    verify_last_success: Family<SourceLabels, Gauge>,
    verify_failure: Family<SourceLabels, Counter>,
    backup_skipped: Family<SourceLabels, Counter>,
    notification_failure: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every lifeboat family registered and no sample yet.
    pub fn new() -> Self {
        let metrics = Self {
            registry: Registry::default(),
            backup_success: Family::default(),
            backup_failure: Family::default(),
            backup_last_success: Family::default(),
            backup_duration: Family::default(),
            backup_size: Family::default(),
            backup_raw_size: Family::default(),
            verify_last_success: Family::default(),
            verify_failure: Family::default(),
            backup_skipped: Family::default(),
            notification_failure: Counter::default(),
        };
        let mut registry = Registry::default();
        // Counters are registered without `_total`: the encoder appends it. A unit is appended
        // to the name too (`_seconds`, `_bytes`) and announced in a `# UNIT` line.
        registry.register(
            "lifeboat_backup_success",
            "Backups that reached every storage",
            metrics.backup_success.clone(),
        );
        registry.register(
            "lifeboat_backup_failure",
            "Backups that failed or missed a storage",
            metrics.backup_failure.clone(),
        );
        registry.register_with_unit(
            "lifeboat_backup_last_success_timestamp",
            "Unix time at which the last successful backup ended",
            Unit::Seconds,
            metrics.backup_last_success.clone(),
        );
        registry.register_with_unit(
            "lifeboat_backup_duration",
            "Duration of the last backup run, successful or not",
            Unit::Seconds,
            metrics.backup_duration.clone(),
        );
        registry.register_with_unit(
            "lifeboat_backup_size",
            "Stored bytes (compressed, encrypted) of the last successful backup",
            Unit::Bytes,
            metrics.backup_size.clone(),
        );
        registry.register_with_unit(
            "lifeboat_backup_raw_size",
            "Raw (dump) bytes of the last successful backup",
            Unit::Bytes,
            metrics.backup_raw_size.clone(),
        );
        registry.register_with_unit(
            "lifeboat_verify_last_success_timestamp",
            "Unix time of the last successful verify",
            Unit::Seconds,
            metrics.verify_last_success.clone(),
        );
        registry.register(
            "lifeboat_verify_failure",
            "Verifies that failed",
            metrics.verify_failure.clone(),
        );
        registry.register(
            "lifeboat_backup_skipped",
            "Scheduled backups skipped because the previous run of the source still ran",
            metrics.backup_skipped.clone(),
        );
        registry.register(
            "lifeboat_notification_failure",
            "Notifications that could not be delivered",
            metrics.notification_failure.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Records that a backup of `source` ended as `outcome` says.
    ///
    /// Both backup counters of the source then exist (at 0 if nothing happened), so alerts on
    /// their increase see the series from the first run. The duration gauge takes every run's
    /// duration; the timestamp and size gauges move only on success (sizes only when known).
    pub fn record_backup(&self, source: &str, outcome: &BackupRecord) {
        let labels = SourceLabels::of(source);
        let success = self.backup_success.get_or_create(&labels);
        let failure = self.backup_failure.get_or_create(&labels);
        self.backup_duration
            .get_or_create(&labels)
            .set(finite_or_zero(outcome.duration_seconds));
        if outcome.success {
            success.inc();
            self.backup_last_success
                .get_or_create(&labels)
                .set(outcome.finished_at_unix);
            if let Some(bytes) = outcome.stored_bytes {
                self.backup_size.get_or_create(&labels).set(bytes);
            }
            if let Some(bytes) = outcome.raw_bytes {
                self.backup_raw_size.get_or_create(&labels).set(bytes);
            }
        } else {
            failure.inc();
        }
    }

    /// Sets the last-success gauges of `source` from a backup known to exist (the newest in the
    /// catalog), without counting a run: after a failed run, `--metrics-file` still tells when
    /// the source last succeeded, so age alerts keep firing.
    pub fn set_last_success(
        &self,
        source: &str,
        finished_at_unix: i64,
        raw_bytes: u64,
        stored_bytes: u64,
    ) {
        let labels = SourceLabels::of(source);
        self.backup_last_success
            .get_or_create(&labels)
            .set(finished_at_unix);
        self.backup_size.get_or_create(&labels).set(stored_bytes);
        self.backup_raw_size.get_or_create(&labels).set(raw_bytes);
    }

    /// Records a verify of `source` at `at_unix` (unix seconds): a success moves the
    /// last-success timestamp, a failure counts.
    pub fn record_verify(&self, source: &str, success: bool, at_unix: i64) {
        let labels = SourceLabels::of(source);
        let failure = self.verify_failure.get_or_create(&labels);
        if success {
            self.verify_last_success.get_or_create(&labels).set(at_unix);
        } else {
            failure.inc();
        }
    }

    /// Records that a scheduled run of `source` was skipped because the previous one still ran.
    pub fn record_skip(&self, source: &str) {
        self.backup_skipped
            .get_or_create(&SourceLabels::of(source))
            .inc();
    }

    /// Adds `n` undelivered notifications to `lifeboat_notification_failure_total`.
    pub fn record_notification_failures(&self, n: u64) {
        self.notification_failure.inc_by(n);
    }

    /// The metrics in the OpenMetrics text format (what `/metrics` serves), ending with
    /// `# EOF`.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// The metrics in the Prometheus text format (0.0.4) that the node exporter's textfile
    /// collector parses: [`Metrics::encode`] through [`to_prometheus_text`].
    pub fn encode_textfile(&self) -> Result<String, std::fmt::Error> {
        Ok(to_prometheus_text(&self.encode()?))
    }
}

/// A NaN or infinite duration (a clock gone wrong) is recorded as 0.
fn finite_or_zero(value: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn success(at: i64) -> BackupRecord {
        BackupRecord {
            success: true,
            duration_seconds: 1.5,
            raw_bytes: Some(4096),
            stored_bytes: Some(1234),
            finished_at_unix: at,
        }
    }

    fn failure() -> BackupRecord {
        BackupRecord {
            success: false,
            duration_seconds: 0.25,
            raw_bytes: None,
            stored_bytes: None,
            finished_at_unix: 1_800_000_100,
        }
    }

    #[test]
    fn a_success_and_a_failure_are_counted_and_the_gauges_follow_the_success() {
        let metrics = Metrics::new();
        metrics.record_backup("app", &success(1_800_000_000));
        metrics.record_backup("app", &failure());
        let text = metrics.encode().unwrap();
        for line in [
            "lifeboat_backup_success_total{source=\"app\"} 1\n",
            "lifeboat_backup_failure_total{source=\"app\"} 1\n",
            "lifeboat_backup_last_success_timestamp_seconds{source=\"app\"} 1800000000\n",
            "lifeboat_backup_size_bytes{source=\"app\"} 1234\n",
            "lifeboat_backup_raw_size_bytes{source=\"app\"} 4096\n",
            // the duration gauge holds the last run's, the failure's
            "lifeboat_backup_duration_seconds{source=\"app\"} 0.25\n",
            "# TYPE lifeboat_backup_success counter\n",
            "# TYPE lifeboat_backup_size_bytes gauge\n",
            "# UNIT lifeboat_backup_size_bytes bytes\n",
            "lifeboat_notification_failure_total 0\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
    }

    #[test]
    fn a_failure_alone_leaves_the_success_series_at_zero_and_no_timestamp() {
        let metrics = Metrics::new();
        metrics.record_backup("db", &failure());
        let text = metrics.encode().unwrap();
        assert!(text.contains("lifeboat_backup_success_total{source=\"db\"} 0\n"));
        assert!(text.contains("lifeboat_backup_failure_total{source=\"db\"} 1\n"));
        assert!(!text.contains("lifeboat_backup_last_success_timestamp_seconds{"));
        assert!(!text.contains("lifeboat_backup_size_bytes{"));
    }

    #[test]
    fn verifies_skips_and_notification_failures_are_recorded() {
        let metrics = Metrics::new();
        metrics.record_verify("app", true, 1_800_000_500);
        metrics.record_verify("app", false, 1_800_000_600);
        metrics.record_skip("app");
        metrics.record_skip("app");
        metrics.record_notification_failures(2);
        metrics.record_notification_failures(1);
        let text = metrics.encode().unwrap();
        for line in [
            "lifeboat_verify_last_success_timestamp_seconds{source=\"app\"} 1800000500\n",
            "lifeboat_verify_failure_total{source=\"app\"} 1\n",
            "lifeboat_backup_skipped_total{source=\"app\"} 2\n",
            "lifeboat_notification_failure_total 3\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        metrics.record_backup("a\"b", &success(1));
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("lifeboat_backup_success_total{source=\"a\\\"b\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn metrics_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Metrics>();
    }
}
