//! # store-redis
//!
//! lifeboat's Redis: RDB snapshots over the replication protocol and logical backups.
//!
//! This crate is a placeholder: the store lands with its own issue. It already depends on
//! `backup-core`, whose [`Source`](backup_core::Source), [`Target`](backup_core::Target) and
//! [`FormatCheck`](backup_core::FormatCheck) traits it will implement, and the CLI accepts
//! `kind = "redis"` in the config (refusing it at run time until then).
//!
//! ```
//! assert_eq!(store_redis::KIND, "redis");
//! ```

/// The `kind` this store will answer to in `lifeboat.toml`.
pub const KIND: &str = "redis";
