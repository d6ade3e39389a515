//! The restore side of a store, and the format check `verify` runs on a stream.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;

use crate::{Manifest, StoreError};

/// Options the user gives to a restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Overwrite a target that already holds data (`--force`).
    pub force: bool,
    /// Change nothing (`--dry-run`): [`Target::prepare`] and [`Target::restore`] only report
    /// what a restore would do (what would be created, what exists, what conflicts). Stores
    /// whose targets cannot tell more than their format check (no
    /// [`Capabilities::dry_run`](crate::store::Capabilities)) leave this to the operations
    /// layer, which then runs the format check and `prepare`'s emptiness test instead.
    pub dry_run: bool,
}

/// What a restore or a format check did, for the CLI's summary and `--json` output.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// One line for humans, e.g. `restored 12 tables to ./restored/app.db`.
    pub summary: String,
    /// Structured details (counts, paths).
    pub details: serde_json::Value,
}

/// Where a backup is restored to.
///
/// The contract that keeps a bad artifact from damaging anything:
/// - [`Target::prepare`] runs before a single byte is read and refuses a target that holds data
///   unless `options.force` is set;
/// - [`Target::restore`] must read `input` **to EOF before it makes anything visible** (stage
///   into a temporary file or directory beside the target, then rename). The pipeline turns a
///   checksum mismatch, a failed decryption or a truncated stream into a read error that arrives
///   before EOF, so a target that follows this rule never commits bad data.
#[async_trait]
pub trait Target: Send + Sync {
    /// A human description of the target without secrets, e.g. a path or a redacted URL.
    fn describe(&self) -> String;

    /// The dump formats it restores; the pipeline refuses any other manifest before a byte
    /// is read, so `restore` never has to check.
    fn formats(&self) -> &'static [&'static str];

    /// Checks the target before any data is read; refuses a non-empty target without `force`.
    async fn prepare(
        &self,
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<(), StoreError>;

    /// Restores the raw dump read from `input`.
    async fn restore(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<Report, StoreError>;
}

/// Checks that a raw stream is a valid dump of its format (the last step of `verify`).
///
/// Implementations read `input` to EOF; the pipeline checks both checksums as the stream ends.
#[async_trait]
pub trait FormatCheck: Send + Sync {
    /// The dump formats it checks; the pipeline refuses any other manifest before a byte is
    /// read.
    fn formats(&self) -> &'static [&'static str];

    /// Reads the whole raw dump and checks its format, returning what was found.
    async fn check(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, StoreError>;
}
