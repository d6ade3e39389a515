//! # store-rabbitmq
//!
//! lifeboat's RabbitMQ: definitions and messages through the management API.
//!
//! This crate is a placeholder: the store lands with its own issue. It already depends on
//! `backup-core`, whose [`Source`](backup_core::Source), [`Target`](backup_core::Target) and
//! [`FormatCheck`](backup_core::FormatCheck) traits it will implement, and the CLI accepts
//! `kind = "rabbitmq"` in the config (refusing it at run time until then).
//!
//! ```
//! assert_eq!(store_rabbitmq::KIND, "rabbitmq");
//! ```

/// The `kind` this store will answer to in `lifeboat.toml`.
pub const KIND: &str = "rabbitmq";
