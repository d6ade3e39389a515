//! Delivering notifications: one POST per target, with a timeout, retried with backoff on
//! network errors, 429 and 5xx; a 4xx other than 429 is not retried (the request is wrong).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

/// One `[[notify]]` entry. `Debug` never shows the URL: webhook URLs are secrets.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `webhook` or `slack`.
    pub kind: NotifyKind,
    /// The URL to POST to; use `${VAR}`, it is a secret.
    pub url: String,
    /// Which outcomes to send: `failure` (default), `success`, or both.
    #[serde(default = "default_on")]
    pub on: Vec<EventKind>,
    /// Retries after the first attempt (default 3).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Seconds one attempt may take (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_on() -> Vec<EventKind> {
    vec![EventKind::Failure]
}

fn default_retries() -> u32 {
    3
}

fn default_timeout() -> u64 {
    10
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("kind", &self.kind)
            .field("url", &"***")
            .field("on", &self.on)
            .field("retries", &self.retries)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
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
                .post(&target.url)
                .timeout(Duration::from_secs(target.timeout_seconds))
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
