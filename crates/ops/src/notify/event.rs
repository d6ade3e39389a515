//! What a notification says.

use serde::Serialize;

/// Whether a backup succeeded or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The backup failed (or reached only some storages).
    Failure,
    /// The backup succeeded.
    Success,
}

/// The webhook body: one backup's outcome. Never holds a secret (errors are lifeboat's own
/// messages, which never quote credentials).
#[derive(Debug, Clone, Serialize)]
pub struct BackupEvent {
    /// `backup.failure` or `backup.success`.
    pub event: String,
    /// The source's name.
    pub source: String,
    /// The source's kind.
    pub kind: String,
    /// The host that ran the backup.
    pub host: String,
    /// When (RFC 3339).
    pub time: String,
    /// The backup's id, when one was written.
    pub backup_id: Option<String>,
    /// Raw bytes, when a backup was written.
    pub raw_bytes: Option<u64>,
    /// Stored bytes, when a backup was written.
    pub stored_bytes: Option<u64>,
    /// Duration in ms, when a backup was written.
    pub duration_ms: Option<u64>,
    /// Storages holding the backup.
    pub storages: Vec<String>,
    /// What went wrong, for failures.
    pub error: Option<String>,
    /// `lifeboat <version>`.
    pub tool_version: String,
    /// Success or failure, for routing (not serialized: `event` says it).
    #[serde(skip)]
    pub outcome: EventKind,
}

impl BackupEvent {
    /// An event with the common fields filled in.
    pub fn new(outcome: EventKind, source: &str, kind: &str) -> Self {
        Self {
            event: match outcome {
                EventKind::Failure => "backup.failure",
                EventKind::Success => "backup.success",
            }
            .to_string(),
            source: source.to_string(),
            kind: kind.to_string(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            time: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            backup_id: None,
            raw_bytes: None,
            stored_bytes: None,
            duration_ms: None,
            storages: Vec::new(),
            error: None,
            tool_version: format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
            outcome,
        }
    }

    /// One line for chat: `lifeboat: backup of app on web-1 FAILED: ...`.
    pub fn text(&self) -> String {
        match self.outcome {
            EventKind::Failure => format!(
                "lifeboat: backup of `{}` on {} FAILED: {}",
                self.source,
                self.host,
                self.error.as_deref().unwrap_or("unknown error")
            ),
            EventKind::Success => format!(
                "lifeboat: backup of `{}` on {} succeeded: {} ({} bytes stored in {})",
                self.source,
                self.host,
                self.backup_id.as_deref().unwrap_or("-"),
                self.stored_bytes.unwrap_or(0),
                self.storages.join(", ")
            ),
        }
    }
}
