//! # lifeboat
//!
//! The operations of lifeboat as a library — what the `lifeboat` binary runs, for services
//! and tests that embed it: back up every store a service uses through compression and
//! encryption into one or more storages, list, restore (with fail-over between storages and
//! dry runs), verify (with restore drills), prune by retention, report health, and schedule
//! it all (ARCHITECTURE.md, "Crates and layers").
//!
//! Every operation is a method of [`Lifeboat`] (a loaded [`Config`] plus an [`Observer`]
//! for progress and warnings) and returns a typed outcome; failures are [`OpError`]s whose
//! [`Failure`] class maps to an exit code without reading any text.
//!
//! ## Example
//!
//! ```
//! use lifeboat::{Config, Lifeboat, metrics::Metrics, Verdict};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("config"))?;
//! std::fs::write(dir.path().join("config/app.toml"), "port = 8080\n")?;
//! let text = r#"
//!     [storage.local]
//!     kind = "fs"
//!     root = "./backups"
//!
//!     [[sources]]
//!     name = "config"
//!     kind = "files"
//!     paths = ["./config"]
//! "#;
//! let config = Config::parse(text, &dir.path().join("lifeboat.toml"), &|_| None)?;
//! let lifeboat = Lifeboat::new(config);
//!
//! let run = lifeboat.backup(&[], &Metrics::new()).await?;
//! assert_eq!(run.verdict(), Verdict::Success);
//! let listing = lifeboat.list(Some("config"), None).await?;
//! assert_eq!(listing.backups.len(), 1);
//! # Ok(())
//! # }
//! ```

mod backup;
mod check;
pub mod config;
pub mod daemon;
mod error;
pub mod keys;
mod lifeboat;
mod list;
mod locking;
pub mod metrics;
pub mod notify;
mod observe;
mod prune;
mod restore;
pub mod schedule;
mod status;
pub mod storage;
pub mod stores;
mod verdict;
mod verify;

pub use backup::{BackupDone, BackupRun, SourceBackup};
pub use check::{CheckItem, CheckReport, Health, Subject};
pub use config::Config;
pub use error::{describe, Failure, OpError};
pub use lifeboat::Lifeboat;
pub use list::{ListedBackup, Listing};
pub use observe::{Observer, ProgressBar, Quiet};
pub use prune::{PruneOutcome, PruneRequest, SourcePrune};
pub use restore::{RestoreOutcome, RestoreRequest};
pub use status::{LastBackup, LastVerify, SourceStatus};
pub use verdict::Verdict;
pub use verify::{Checked, VerifyRequest};

/// The catalog's backup selector (`--id ID` or `latest`), re-exported for requests.
pub use backup_core::catalog::Selector;
