//! # lifeboat-testing
//!
//! The test harnesses of every lifeboat crate, in one place and never in a production build
//! (`publish = false`, a dev-dependency only):
//!
//! - [`MemorySink`], a storage in memory, optionally failing after some bytes;
//! - [`BytesSource`], a source that dumps bytes or dies midway; [`FailingReader`], a stream
//!   that breaks off;
//! - [`manifest`], a manifest as the pipeline writes it, for calling targets directly;
//! - [`FaultProxy`], a TCP proxy in front of a real server that refuses, resets, stalls or
//!   throttles connections on cue;
//! - [`BlackHole`], an endpoint that accepts connections and never answers;
//! - [`fuzz_inputs`], the committed seeds and regression inputs of a fuzz target;
//! - [`fake_tool`], a misbehaving `pg_dump` (or any client tool); [`free_port`], a loopback
//!   port for a scratch server;
//! - [`service_unavailable`], the skip-or-fail rule of tests that need a real server
//!   (`LIFEBOAT_REQUIRE_SERVICES=1` turns a skip into a failure, as in CI);
//! - `postgres` (feature `postgres`): throw-away databases on the test PostgreSQL server.
//! - `rabbitmq` (feature `rabbitmq`): the RabbitMQ test broker's vhosts and users, deleted
//!   after the test, and AMQP publishing and reading.
//! - `redis` (feature `redis`): private redis-servers, started by the store's own
//!   scratch-server spawner.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use backup_core::{pipeline, Sink};
//! use lifeboat_testing::{BytesSource, MemorySink};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), backup_core::Error> {
//! let storage = MemorySink::new("memory");
//! let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(storage.clone())];
//! let outcome = pipeline::run_backup(pipeline::BackupRequest {
//!     source_name: "app",
//!     source: &BytesSource::new(b"a dump".to_vec()),
//!     transforms: &[],
//!     sinks: &sinks,
//!     size_hint: None,
//!     progress: None,
//! })
//! .await?;
//! assert!(storage.object(&outcome.manifest.artifact.key).is_some());
//! # Ok(())
//! # }
//! ```

mod black_hole;
mod bytes_source;
mod failing_reader;
mod fake_tool;
mod fault_proxy;
mod fuzz_inputs;
mod manifest;
mod memory_sink;
mod ports;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
mod services;

pub use black_hole::BlackHole;
pub use bytes_source::BytesSource;
pub use failing_reader::FailingReader;
pub use fake_tool::{fake_tool, REAL_VERSION};
pub use fault_proxy::{Fault, FaultProxy, ProxyStats};
pub use fuzz_inputs::{fuzz_inputs, FuzzInput};
pub use manifest::manifest;
pub use memory_sink::MemorySink;
pub use ports::free_port;
pub use services::{service_unavailable, services_required, REQUIRE_SERVICES_VAR};
