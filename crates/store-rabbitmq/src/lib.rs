//! # store-rabbitmq
//!
//! lifeboat's RabbitMQ store: the broker's topology (definitions) through the management API
//! and, when asked, the messages waiting in durable queues over AMQP.
//!
//! - [`RabbitmqSource`] streams `GET /api/definitions` into the backup chunk by chunk (the
//!   broker's exact bytes for a whole-broker backup; with `vhosts = [...]` the objects of
//!   those vhosts and the users holding permissions in them, in the same shape), counting
//!   every object for the manifest. With `messages = true` it then reads each durable classic
//!   or quorum queue with a consumer that never acknowledges (its prefetch window is the
//!   per-queue limit, at most 65535, which bounds memory), writes each message, and puts them
//!   all back with one `basic.nack(multiple, requeue)`, so they stay in their queue in order
//!   (`basic.get`, or nacking one by one, scrambles a quorum queue's order).
//! - [`RabbitmqTarget`] compares the backup with the broker object by object (create / exists
//!   identically / conflicts), refuses conflicts without `--force` before changing anything,
//!   and also refuses, before any change, a restore whose AMQP user could not publish into a
//!   vhost receiving messages once the definitions are imported,
//!   prints the diff with `--dry-run`, imports the definitions vhost by vhost
//!   (`POST /api/definitions`), then republishes the messages in one AMQP transaction per
//!   vhost, committed only after the whole dump was read.
//! - [`RabbitmqCheck`] (`verify`) checks a dump's structure and counts without a broker;
//!   [`RabbitmqDrill`] (`verify --deep`) imports it into scratch vhosts and compares.
//!
//! ## Dump formats
//!
//! - `rabbitmq-definitions` (extension `json`): the definitions document.
//! - `rabbitmq-definitions+messages` (extension `jsonl`), JSON lines:
//!   1. header: `{"type":"header","format":"lifeboat-rabbitmq/1","rabbitmq_version":"3.10.8","vhosts":null,"max_messages_per_queue":65535}`
//!   2. the definitions document, on one line;
//!   3. one line per message, grouped by queue, oldest first:
//!      `{"type":"message","vhost":"v","queue":"q","index":0,"redelivered":false,"exchange":"","routing_key":"q","properties":{"delivery_mode":2,"headers":{"n":{"i32":1}}},"payload":"aGVsbG8="}`
//!      (header values are typed, see below; the payload is base64);
//!   4. trailer: `{"type":"trailer","messages":N,"queues":[{"vhost":"v","queue":"q","messages":n,"depth":n}],"skipped":[{"vhost":"v","queue":"s","reason":"..."}]}`.
//!      A dump without its trailer, or whose counts differ, is corrupt.
//!
//! Header values keep their AMQP type: `{"bool":true}`, `{"i8":..}` … `{"i64":..}`,
//! `{"u8":..}`, `{"u16":..}`, `{"u32":..}`, `{"f32":"1.5"}`, `{"f64":"1.5"}` (floats as exact text), `{"decimal":[scale,value]}`,
//! `{"short_string":".."}`, `{"string":".."}` (UTF-8 long string), `{"bytes":"<base64>"}`
//! (other long strings), `{"array":[..]}`, `{"timestamp":n}`, `{"table":{..}}`,
//! `{"byte_array":"<base64>"}`, `{"void":null}`.
//!
//! ## Message semantics (best effort, not point-in-time)
//!
//! - Each queue is read at a different moment; at most the messages it held when it was
//!   opened (and at most `max_messages_per_queue`) are taken. Messages published meanwhile are
//!   not included; messages consumed by others meanwhile may be missing.
//! - After the backup the messages are back in their queue in their order, but with the
//!   `redelivered` flag set (quorum queues also count the delivery in `x-delivery-count`), and
//!   a consumer that attaches during the backup sees them only once they are put back.
//! - A quorum queue puts requeued messages at its *back*: messages published to it while the
//!   backup reads it end up ahead of the older ones (a classic queue requeues in place). For
//!   the same reason a quorum queue holding more than `max_messages_per_queue` is skipped:
//!   taking only its oldest would move them behind the rest.
//! - Queues with consumers, stream queues, non-durable and auto-delete queues, queues that
//!   cannot be opened (exclusive to another connection), quorum queues deeper than the limit,
//!   and quorum queues with a delivery
//!   limit (argument, policy or operator policy: every backup would count as a delivery attempt)
//!   are not read: they are listed with the reason in the trailer and the manifest's
//!   `messages.skipped`, and logged as warnings.
//! - On restore, a message's `user_id` naming a user other than the restoring one is dropped
//!   (the broker refuses it); `expiration` restarts from the restore.
//!
//! The definitions hold the users' password hashes: the manifest (and its metadata,
//! [`RabbitmqMetadata`]) says `contains_password_hashes: true` and every backup logs a warning
//! to keep it encrypted.
//!
//! ## TLS
//!
//! The management API may be `https://`: its certificate is checked against `tls_ca_file` (a
//! PEM file of trusted roots) or the Mozilla roots, host name included; `tls_insecure = true`
//! accepts any certificate and logs a warning on every run. AMQP is plain `amqp://` only.
//!
//! # Example
//!
//! ```no_run
//! use backup_core::Source;
//! use store_rabbitmq::{RabbitmqOptions, RabbitmqSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut options = RabbitmqOptions::new("http://guest:guest@127.0.0.1:15672");
//! options.messages = true;
//! let source = RabbitmqSource::new(options)?;
//! let preflight = source.preflight().await?;
//! println!("{:?}", preflight.version);
//!
//! // Any tokio AsyncWrite will do; the backup pipeline passes its compressor here.
//! let mut dump = Vec::new();
//! let dumped = source.backup(&mut dump).await?;
//! let metadata: store_rabbitmq::RabbitmqMetadata = serde_json::from_value(dumped.metadata)?;
//! println!("{:?} queues", metadata.counts.get("queues"));
//! # Ok(())
//! # }
//! ```

mod access;
mod amqp;
mod api;
mod check;
mod definitions;
mod diff;
mod drill;
mod endpoint;
mod error;
mod export;
mod fields;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod messages;
mod metadata;
mod options;
mod publish;
mod reader;
mod responses;
mod scan;
mod source;
mod store;
mod target;
mod tls;

pub use check::RabbitmqCheck;
pub use definitions::Counts;
pub use drill::RabbitmqDrill;
pub use error::{Malformed, RabbitmqError, Step};
pub use fields::HeaderError;
pub use format::{
    DumpFormat, Header, QueueCount, Skipped, Trailer, DEFINITIONS_FORMAT, MESSAGES_FORMAT,
    MESSAGES_HEADER_FORMAT,
};
pub use metadata::{BrokerInfo, MessagesMetadata, RabbitmqMetadata};
pub use options::{
    RabbitmqOptions, DEFAULT_AMQP_PORT, DEFAULT_MAX_MESSAGES_PER_QUEUE, MAX_MESSAGES_PER_QUEUE,
};
pub use scan::ScanError;
pub use source::RabbitmqSource;
pub use store::{Rabbitmq, DESCRIPTOR};
pub use target::RabbitmqTarget;

/// The `kind` this store answers to in `lifeboat.toml`.
pub const KIND: &str = "rabbitmq";

/// The dump formats this store writes (the manifest's `dump_format`).
pub const FORMATS: &[&str] = &[DEFINITIONS_FORMAT, MESSAGES_FORMAT];
