//! [`Scrubbed`]: a library's or server's error behind a wrapper that keeps secrets out of its
//! text and the texts of its causes, while keeping the error itself for typed matching.

use std::error::Error;
use std::fmt;

use crate::cause_chain::Cause;

use crate::redact::scrub;

/// An error whose text, and the text of every cause, may echo a secret (a client library
/// printing `AUTH`'s arguments or a connection string): shown with those secrets as `***`.
/// The cause chain stays a chain (`source()`), and the original error stays reachable with
/// [`Scrubbed::find`] for typed matching (an auth failure, a rejected certificate), so callers
/// never have to match on the text.
///
/// ```
/// use lifeboat_edge::Scrubbed;
///
/// let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "AUTH hunter2 failed");
/// let err = Scrubbed::new(io, ["hunter2"]);
/// assert_eq!(err.to_string(), "AUTH *** failed");
/// assert_eq!(err.find::<std::io::Error>().map(|e| e.kind()), Some(std::io::ErrorKind::PermissionDenied));
/// ```
pub struct Scrubbed {
    original: Box<dyn Error + Send + Sync>,
    text: String,
    cause: Option<Box<Cause>>,
}

impl Scrubbed {
    /// Wraps `error`, scrubbing each of `secrets` out of its text and its causes'.
    pub fn new<'a>(
        error: impl Into<Box<dyn Error + Send + Sync>>,
        secrets: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let original = error.into();
        let secrets: Vec<&str> = secrets.into_iter().collect();
        let clean = |text: String| scrub(&text, secrets.iter().copied());
        let text = clean(original.to_string());
        let cause = Cause::chain_of(original.as_ref(), clean);
        Self {
            original,
            text,
            cause,
        }
    }

    /// The first error of type `T` in the original chain (the wrapped error, then its causes).
    pub fn find<T: Error + 'static>(&self) -> Option<&T> {
        let mut next: Option<&(dyn Error + 'static)> = Some(self.original.as_ref());
        while let Some(error) = next {
            if let Some(found) = error.downcast_ref::<T>() {
                return Some(found);
            }
            next = error.source();
        }
        None
    }
}

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the original's Debug: it may hold the secret.
        f.debug_tuple("Scrubbed").field(&self.text).finish()
    }
}

impl Error for Scrubbed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connecting to redis://u:{0}@h failed")]
    struct Outer(String, #[source] std::io::Error);

    #[test]
    fn every_level_is_scrubbed_and_the_chain_kept() {
        let inner = std::io::Error::other("server said: bad pw s3cr");
        let err = Scrubbed::new(Outer("s3cr".into(), inner), ["s3cr"]);
        assert_eq!(err.to_string(), "connecting to redis://u:***@h failed");
        let cause = err.source().unwrap();
        assert_eq!(cause.to_string(), "server said: bad pw ***");
        assert!(cause.source().is_none());
        assert!(!format!("{err:?}").contains("s3cr"));
        assert!(err.find::<Outer>().is_some());
        assert!(err.find::<std::io::Error>().is_some());
        assert!(err.find::<std::fmt::Error>().is_none());
    }
}
