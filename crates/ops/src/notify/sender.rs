//! Delivering notifications: one POST per target, with a timeout, retried with backoff on
//! network errors, 429 and 5xx; a 4xx other than 429 is not retried (the request is wrong).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lifeboat_edge::deprecation::renamed;
use lifeboat_edge::{HumanDuration, Secret};
use serde::Deserialize;

use super::{BackupEvent, EventKind};

/// The first wait between attempts; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    /// A POST of the JSON body documented in the README.
    Webhook,
    /// A Slack incoming webhook (`{"text": ...}`).
    Slack,
}

/// One `[[notify]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawNotifyConfig")]
pub struct NotifyConfig {
    /// `webhook` or `slack`.
    pub kind: NotifyKind,
    /// The URL to POST to; use `${VAR}`, it is a secret (a Slack webhook URL is its own
    /// credential), so it is never shown.
    pub url: Secret,
    /// Which outcomes to send: `failure` (default), `success`, or both.
    pub on: Vec<EventKind>,
    /// Retries after the first attempt (default 3).
    pub retries: u32,
    /// How long one attempt may take (default `"10s"`).
    pub timeout: HumanDuration,
}

/// `[[notify]]` as written, with the names of earlier releases.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotifyConfig {
    kind: NotifyKind,
    url: Secret,
    #[serde(default = "default_on")]
    on: Vec<EventKind>,
    #[serde(default = "default_retries")]
    retries: u32,
    timeout: Option<HumanDuration>,
    timeout_seconds: Option<u64>,
}

impl TryFrom<RawNotifyConfig> for NotifyConfig {
    type Error = lifeboat_edge::deprecation::BothNames;

    fn try_from(raw: RawNotifyConfig) -> Result<Self, Self::Error> {
        let timeout = renamed(
            "timeout_seconds",
            raw.timeout_seconds,
            "timeout",
            raw.timeout,
            HumanDuration::from_secs,
        )?;
        Ok(Self {
            kind: raw.kind,
            url: raw.url,
            on: raw.on,
            retries: raw.retries,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        })
    }
}

/// How long one attempt may take by default.
const DEFAULT_TIMEOUT: HumanDuration = HumanDuration::from_secs(10);

fn default_on() -> Vec<EventKind> {
    vec![EventKind::Failure]
}

fn default_retries() -> u32 {
    3
}

/// Sends events to the configured targets and counts what could not be delivered.
pub struct Notifier {
    client: reqwest::Client,
    targets: Vec<NotifyConfig>,
    failures: AtomicU64,
}

impl Notifier {
    /// A notifier for `targets` (none: every call is a no-op).
    pub fn new(targets: Vec<NotifyConfig>) -> Self {
        Self {
            client: reqwest::Client::new(),
            targets,
            failures: AtomicU64::new(0),
        }
    }

    /// Notifications that could not be delivered so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Sends `event` to every target that wants its outcome. Never fails: an undeliverable
    /// notification is logged (without its URL) and counted.
    pub async fn notify(&self, event: &BackupEvent) {
        for (index, target) in self.targets.iter().enumerate() {
            if !target.on.contains(&event.outcome) {
                continue;
            }
            let body = match target.kind {
                NotifyKind::Webhook => serde_json::to_value(event),
                NotifyKind::Slack => Ok(serde_json::json!({ "text": event.text() })),
            };
            let result = match body {
                Ok(body) => self.deliver(target, &body).await,
                Err(err) => Err(err.to_string()),
            };
            if let Err(reason) = result {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    notify = index + 1,
                    kind = ?target.kind,
                    "notification could not be delivered: {reason}"
                );
            }
        }
    }

    async fn deliver(&self, target: &NotifyConfig, body: &serde_json::Value) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 0..=target.retries {
            if attempt > 0 {
                tokio::time::sleep(FIRST_BACKOFF * 2u32.saturating_pow(attempt - 1)).await;
            }
            let sent = self
                .client
                .post(target.url.expose())
                .timeout(target.timeout.as_std())
                .json(body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    last = format!("HTTP {status}");
                    if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                    {
                        return Err(last);
                    }
                }
                // The URL is a secret: never let it into the message.
                Err(err) => last = err.without_url().to_string(),
            }
        }
        Err(format!("{last} (after {} attempts)", target.retries + 1))
    }
}
