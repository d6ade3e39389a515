//! The path-safety check every archive entry passes before anything is written.
//!
//! `tar`'s own `unpack_in` *silently skips* entries with `..` and strips leading `/`; a restore
//! must instead refuse such an archive outright, so the check is done here first, on the raw
//! bytes the archive stores (GNU long names and PAX paths included).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Turns an entry's raw path into a relative path that stays inside the extraction directory.
///
/// `.` and empty components (`a//b`, a trailing `/`) are dropped; the result may be empty (an
/// entry for the archive root itself, `./`). Refused: absolute paths, any `..` component, NUL
/// bytes, and anything the standard library would parse as a root or prefix.
pub(crate) fn safe_relative_path(raw: &[u8]) -> Result<PathBuf, String> {
    if raw.is_empty() {
        return Err("the path is empty".into());
    }
    if raw.first() == Some(&b'/') {
        return Err("the path is absolute".into());
    }
    if raw.contains(&0) {
        return Err("the path contains a NUL byte".into());
    }
    let mut path = PathBuf::new();
    for part in raw.split(|byte| *byte == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("the path contains a `..` component".into()),
            part => path.push(OsStr::from_bytes(part)),
        }
    }
    // Defence in depth: what we built must parse back as plain names only.
    if let Some(bad) = path
        .components()
        .find(|component| !matches!(component, Component::Normal(_)))
    {
        return Err(format!(
            "the path has a {:?} component",
            bad.as_os_str().to_string_lossy()
        ));
    }
    Ok(path)
}

/// The proper ancestors of a relative path, shortest first (`a/b/c` → `a`, `a/b`).
pub(crate) fn ancestors(rel: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    let count = rel.components().count();
    (1..count).map(move |n| rel.components().take(n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        assert_eq!(
            safe_relative_path(b"config/app.toml").ok(),
            Some(PathBuf::from("config/app.toml"))
        );
        assert_eq!(
            safe_relative_path(b"./config//sub/").ok(),
            Some(PathBuf::from("config/sub"))
        );
        assert_eq!(safe_relative_path(b"./").ok(), Some(PathBuf::new()));
        assert_eq!(
            safe_relative_path("résumé-日本.txt".as_bytes()).ok(),
            Some(PathBuf::from("résumé-日本.txt"))
        );
        // A name that merely starts with two dots is fine.
        assert_eq!(
            safe_relative_path(b"a/..b").ok(),
            Some(PathBuf::from("a/..b"))
        );
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            &b"../x"[..],
            b"a/../../x",
            b"a/..",
            b"..",
            b"/etc/x",
            b"//etc/x",
            b"",
            b"a\0b",
        ] {
            assert!(
                safe_relative_path(bad).is_err(),
                "{:?} should be refused",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn lists_ancestors() {
        let all: Vec<PathBuf> = ancestors(Path::new("a/b/c")).collect();
        assert_eq!(all, vec![PathBuf::from("a"), PathBuf::from("a/b")]);
        assert_eq!(ancestors(Path::new("a")).count(), 0);
    }
}
