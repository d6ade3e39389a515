//! Where a server is and how to reach it, one concept a file:
//!
//! - [`info`]: the parsed URL ([`ConnInfo`]), its redacted description and the environment
//!   that points the client tools at it;
//! - `params`: libpq's TLS parameters, taken out of a URL's query;
//! - `connect`: the in-process connection (tokio-postgres), with typed hints for rejected
//!   certificates;
//! - `driver`: the task that drives a connection until its client is dropped;
//! - `tls` and `trust`: libpq's `sslmode` as rustls settings, and the system's trust store.

mod connect;
mod driver;
pub(crate) mod info;
mod params;
mod tls;
mod trust;

pub(crate) use info::ConnInfo;
