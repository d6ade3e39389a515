//! Which keys and prefixes a sink accepts, and which keys are lifeboat's own internals.
//!
//! Keys are relative `/`-separated paths. Validating them keeps every backend consistent and,
//! for the fs backend, keeps every path inside the storage root (no `..`, no absolute path).

use crate::error::RequestError;

/// The hidden folder at the root of an fs storage where uploads are written before they are
/// renamed into place. Never listed, never accepted as a key.
pub const TMP_DIR_NAME: &str = ".lifeboat-tmp";

/// The longest key accepted, in bytes (S3's limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Checks an object key: non-empty, relative, no empty, `.` or `..` segment, no trailing `/`,
/// no `\` or control character, not inside [`TMP_DIR_NAME`].
pub fn validate_key(key: &str) -> Result<(), RequestError> {
    if key.is_empty() {
        return Err(RequestError::InvalidKey("the key is empty"));
    }
    if key.ends_with('/') {
        return Err(RequestError::InvalidKey("a key cannot end with `/`"));
    }
    validate_path(key)
}

/// Checks a list prefix: like a key, but it may be empty (everything) or end with `/`.
pub fn validate_prefix(prefix: &str) -> Result<(), RequestError> {
    match prefix.strip_suffix('/') {
        Some("") => Err(RequestError::InvalidKey("a prefix cannot be `/`: use \"\"")),
        Some(dir) => validate_path(dir),
        None if prefix.is_empty() => Ok(()),
        None => validate_path(prefix),
    }
}

/// Whether `key` (relative to the root, as a backend lists it) is inside lifeboat's temp folder.
pub fn is_internal(key: &str) -> bool {
    let key = key.trim_start_matches('/');
    key == TMP_DIR_NAME
        || key
            .strip_prefix(TMP_DIR_NAME)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn validate_path(path: &str) -> Result<(), RequestError> {
    if path.len() > MAX_KEY_LEN {
        return Err(RequestError::InvalidKey("longer than 1024 bytes"));
    }
    if path.starts_with('/') {
        return Err(RequestError::InvalidKey(
            "must be relative to the storage root",
        ));
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(RequestError::InvalidKey(
            "contains `\\` or a control character",
        ));
    }
    if path
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(RequestError::InvalidKey(
            "contains an empty, `.` or `..` path segment",
        ));
    }
    if is_internal(path) {
        return Err(RequestError::InvalidKey(
            "`.lifeboat-tmp/` is reserved for uploads in progress",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "a",
            "orders/20240101T000000Z-ab12/data.dump.zst.age",
            "orders/x/manifest.json",
            ".lifeboat-tmpx/a",
            "a/.lifeboat-tmp/b",
            "a..b/c",
        ] {
            assert_eq!(validate_key(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "a/",
            "a//b",
            "./a",
            "a/../b",
            "..",
            "a\\b",
            "a\nb",
            ".lifeboat-tmp/x",
            ".lifeboat-tmp",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        assert!(validate_key(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn prefixes() {
        for ok in ["", "orders/", "orders", "orders/2024", "a/b/"] {
            assert_eq!(validate_prefix(ok), Ok(()), "{ok}");
        }
        for bad in ["/", "/a", "a//", "../", "a/../", ".lifeboat-tmp/", "./"] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn internal_keys() {
        assert!(is_internal(".lifeboat-tmp/x.123"));
        assert!(is_internal("/.lifeboat-tmp/x"));
        assert!(is_internal(".lifeboat-tmp"));
        assert!(!is_internal(".lifeboat-tmpx"));
        assert!(!is_internal("a/.lifeboat-tmp/x"));
    }
}
