//! Config keys and spellings kept for one release after they were renamed: read with a
//! warning, logged once per process however often the config is loaded.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// Logs `message` as a deprecation warning, once per process.
pub fn warn_once(message: &str) {
    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let first = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(message.to_string());
    if first {
        tracing::warn!("deprecated: {message}");
    }
}

/// A key given under both its old and its new name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{old}` is the old name of `{new}`: set only `{new}`")]
pub struct BothNames {
    /// The old name.
    pub old: &'static str,
    /// The new name.
    pub new: &'static str,
}

/// The value of a renamed key: the new one, or the old one (converted by `convert`, with a
/// warning), or an error when both are set.
///
/// ```
/// use lifeboat_edge::{deprecation::renamed, HumanDuration};
///
/// let old_seconds = Some(30u64);
/// let timeout = renamed("connect_timeout_secs", old_seconds, "connect_timeout", None, HumanDuration::from_secs)?;
/// assert_eq!(timeout, Some(HumanDuration::from_secs(30)));
/// # Ok::<(), lifeboat_edge::deprecation::BothNames>(())
/// ```
pub fn renamed<Old, New>(
    old_key: &'static str,
    old: Option<Old>,
    new_key: &'static str,
    new: Option<New>,
    convert: impl FnOnce(Old) -> New,
) -> Result<Option<New>, BothNames> {
    match (old, new) {
        (Some(_), Some(_)) => Err(BothNames {
            old: old_key,
            new: new_key,
        }),
        (Some(old), None) => {
            warn_once(&format!(
                "`{old_key}` is renamed `{new_key}`; the old name will not be read by the next \
                 release"
            ));
            Ok(Some(convert(old)))
        }
        (None, new) => Ok(new),
    }
}
