//! Verify records: what `verify` found, kept in storage beside the backup it checked
//! (`<source>/<id>/verify.json`), so `status` can report the last restore drill with no local
//! state. Prune removes them with their backup's folder.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{backup_dir, BackupId, Sink, SinkError};

/// The value of a verify record's `format` field.
pub const VERIFY_FORMAT: &str = "lifeboat-verify/1";

/// A verify record's file name inside a backup's folder.
pub const VERIFY_FILE: &str = "verify.json";

/// The outcome of one `verify` of one copy of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRecord {
    /// Always [`VERIFY_FORMAT`].
    pub format: String,
    /// The backup checked.
    pub id: BackupId,
    /// The storage whose copy was checked.
    pub storage: String,
    /// When the check finished.
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
    /// Whether every check passed.
    pub ok: bool,
    /// Whether it was a deep verify (a restore drill into a scratch target).
    pub deep: bool,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// What was found, for humans.
    pub summary: String,
}

/// The key of a backup's verify record.
pub fn verify_key(source: &str, id: &BackupId) -> String {
    format!("{}/{VERIFY_FILE}", backup_dir(source, id))
}

/// Stores `record` beside its backup, replacing an older one.
pub async fn write_verify_record(
    sink: &dyn Sink,
    source: &str,
    record: &VerifyRecord,
) -> Result<(), SinkError> {
    let key = verify_key(source, &record.id);
    let body = serde_json::to_vec_pretty(record)
        .map_err(|error| SinkError::backend("write", key.clone(), error))?;
    sink.put(&key, Bytes::from(body)).await
}

/// The most recent verify record of `source` across `sinks`. Storages or records that cannot
/// be read are skipped: this feeds a health report, which says "never verified" at worst.
pub async fn latest_verify_record(sinks: &[Arc<dyn Sink>], source: &str) -> Option<VerifyRecord> {
    let mut latest: Option<VerifyRecord> = None;
    for sink in sinks {
        let Ok(objects) = sink.list(&crate::source_prefix(source)).await else {
            continue;
        };
        for object in objects.iter().filter(|o| o.key.ends_with(VERIFY_FILE)) {
            let Ok(bytes) = sink.get(&object.key).await else {
                continue;
            };
            let Ok(mut record) = serde_json::from_slice::<VerifyRecord>(&bytes) else {
                continue;
            };
            // `status` prints these texts: what storage holds reaches the terminal only
            // escaped and capped.
            record.summary = lifeboat_edge::shown::message(&record.summary);
            record.storage = lifeboat_edge::shown::excerpt_str(&record.storage);
            if record.format == VERIFY_FORMAT
                && latest
                    .as_ref()
                    .is_none_or(|l| record.verified_at > l.verified_at)
            {
                latest = Some(record);
            }
        }
    }
    latest
}
