//! [`manifest`]: a manifest as the pipeline would write it, for tests that call a target or a
//! check directly.

use backup_core::{Artifact, BackupId, Manifest, SourceRef, MANIFEST_FORMAT};

/// A manifest of a `kind` backup (source name = `kind`) in `dump_format`, with the store
/// `metadata`, dated now; sizes and checksums are empty (nothing reads them when a target or
/// check is called directly).
///
/// ```
/// let m = lifeboat_testing::manifest("sqlite", "sqlite-db", serde_json::json!({ "tables": [] }));
/// assert_eq!((m.source.kind.as_str(), m.dump_format.as_str()), ("sqlite", "sqlite-db"));
/// ```
pub fn manifest(kind: &str, dump_format: &str, metadata: serde_json::Value) -> Manifest {
    let now = time::OffsetDateTime::now_utc();
    Manifest {
        format: MANIFEST_FORMAT.to_string(),
        id: BackupId::new(now),
        source: SourceRef {
            name: kind.to_string(),
            kind: kind.to_string(),
        },
        started_at: now,
        finished_at: now,
        duration_ms: 0,
        host: "test-host".to_string(),
        tool_version: "lifeboat test".to_string(),
        dump_format: dump_format.to_string(),
        artifact: Artifact {
            key: format!("{kind}/x/data"),
            raw_bytes: 0,
            stored_bytes: 0,
            raw_sha256: String::new(),
            stored_sha256: String::new(),
        },
        transforms: Vec::new(),
        metadata,
        contains_password_hashes: false,
    }
}
