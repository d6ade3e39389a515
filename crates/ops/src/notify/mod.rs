//! Notifications (`[[notify]]`): a webhook (JSON body below) or a Slack incoming webhook, told
//! about each backup's failure (default) or success. A notification that cannot be delivered
//! after its retries is logged and counted; it never fails the backup.
//!
//! The webhook body, stable and documented in the README:
//! ```json
//! { "event": "backup.failure", "source": "app", "kind": "sqlite", "host": "web-1",
//!   "time": "2026-11-21T02:00:03Z", "backup_id": null, "raw_bytes": null,
//!   "stored_bytes": null, "duration_ms": null, "storages": [],
//!   "error": "source `app` failed: ...", "tool_version": "lifeboat 0.1.0" }
//! ```

mod event;
mod sender;

pub use event::{BackupEvent, EventKind};
pub use sender::{Notifier, NotifyConfig};
