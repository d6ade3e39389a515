//! The backup and restore pipelines: one chain of streaming stages each way.

mod backup;
mod fan_out;
mod restore;

pub use backup::{run_backup, BackupOutcome, BackupRequest, StorageFailure};
pub use restore::{open_restore_stream, run_check, run_restore, RestoreRequest, RestoreStream};
