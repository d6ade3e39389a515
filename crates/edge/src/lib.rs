//! # lifeboat-edge
//!
//! The small pieces every lifeboat crate needs where it meets the outside world, written
//! once (ARCHITECTURE.md, "The edge toolkit"):
//!
//! - [`Secret`] and [`SecretUrl`]: every password, key, token and credential-bearing URL of
//!   the config;
//! - [`redact_url`] and [`redact::scrub`]: URLs and server texts as they may be shown;
//!   [`Scrubbed`]: a third-party error with its secrets scrubbed and its cause chain kept;
//! - [`percent`]: the one percent-encoding codec (`percent-encoding`);
//! - [`staged`]: write beside the target, fsync, rename, fsync the folder;
//! - [`copy::copy`]: a bounded copy that says whether the input or the output failed;
//! - [`HumanDuration`]: the one duration type of the config (`"90s"`, `"6h"`, `"7d"`);
//! - [`deprecation`]: renamed config keys, read for one more release with a warning;
//! - [`tls`] (feature `tls`): rustls roots, verifiers and typed certificate errors.
//!
//! ## Example
//!
//! ```
//! use lifeboat_edge::{redact_url, HumanDuration, Secret};
//!
//! let password = Secret::new("hunter2");
//! let mut url = url::Url::parse("redis://backup@cache.internal:6379/0")?;
//! url.set_password(Some(password.expose())).expect("redis URLs take a password");
//! assert_eq!(redact_url(&url), "redis://backup:***@cache.internal:6379/0");
//!
//! let timeout: HumanDuration = "90s".parse()?;
//! assert_eq!(timeout.as_std(), std::time::Duration::from_secs(90));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cause_chain;
pub mod copy;
pub mod deprecation;
pub mod duration;
pub mod percent;
pub mod redact;
mod scrubbed;
mod secret;
pub mod shown;
pub mod staged;
#[cfg(feature = "tls")]
pub mod tls;

pub use duration::{HumanDuration, InvalidDuration};
pub use redact::{redact_url, redact_url_text};
pub use scrubbed::Scrubbed;
pub use secret::{Secret, SecretUrl};
