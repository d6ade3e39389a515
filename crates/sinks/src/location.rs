//! [`Location`]: where a storage's objects live, so that two storages of one config that
//! would write to the same place (and then find each other's locks) can be refused.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{SecretUrl, StorageConfig};

/// Where a storage's objects live: two storages with equal locations are the same place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An fs root, canonical (symlinks resolved, as far as the path exists).
    Fs(PathBuf),
    /// A bucket (or container) of an object store, with the prefix inside it.
    Bucket {
        /// `s3`, `gs` or `azblob`.
        scheme: &'static str,
        /// The service, normalized: its endpoint without credentials, trailing `/` or case
        /// differences in scheme and host (or the provider's default).
        service: String,
        /// The bucket or container.
        bucket: String,
        /// The prefix, without leading or trailing `/`.
        prefix: String,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fs(root) => write!(f, "fs:{}", root.display()),
            Self::Bucket {
                scheme,
                bucket,
                prefix,
                ..
            } if prefix.is_empty() => write!(f, "{scheme}://{bucket}"),
            Self::Bucket {
                scheme,
                bucket,
                prefix,
                ..
            } => write!(f, "{scheme}://{bucket}/{prefix}"),
        }
    }
}

impl StorageConfig {
    /// Where this storage's objects live. For fs this reads the filesystem (to resolve
    /// symlinks of the part of the root that exists); nothing else does I/O.
    pub fn location(&self) -> Location {
        let bucket = |scheme, service: String, bucket: &str, root: &Option<String>| {
            let prefix = root.as_deref().unwrap_or("");
            Location::Bucket {
                scheme,
                service,
                bucket: bucket.to_owned(),
                prefix: prefix
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("/"),
            }
        };
        match self {
            Self::Fs(c) => Location::Fs(canonical(&c.root)),
            Self::S3(c) => bucket("s3", service(&c.endpoint, "aws"), &c.bucket, &c.root),
            Self::Gcs(c) => bucket(
                "gs",
                service(&c.endpoint, "https://storage.googleapis.com"),
                &c.bucket,
                &c.root,
            ),
            Self::Azblob(c) => {
                let default = c
                    .account_name
                    .as_deref()
                    .map(|a| format!("https://{a}.blob.core.windows.net"))
                    .unwrap_or_default();
                bucket(
                    "azblob",
                    service(&c.endpoint, &default),
                    &c.container,
                    &c.root,
                )
            }
        }
    }
}

/// An endpoint without credentials, trailing `/`, or case in its scheme and host.
fn service(endpoint: &Option<SecretUrl>, default: &str) -> String {
    let Some(endpoint) = endpoint else {
        return default.to_lowercase();
    };
    let text = endpoint.expose().trim().trim_end_matches('/');
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{}://{}{path}", scheme.to_lowercase(), host.to_lowercase())
}

/// `root` absolute and with symlinks resolved as far as it exists; the missing tail (a root
/// not created yet) is added as written, with its `.` and `..` applied.
fn canonical(root: &Path) -> PathBuf {
    use std::path::Component;

    let absolute = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let parts: Vec<Component<'_>> = absolute.components().collect();
    for cut in (1..=parts.len()).rev() {
        let existing: PathBuf = parts[..cut].iter().collect();
        if let Ok(mut resolved) = std::fs::canonicalize(&existing) {
            for part in &parts[cut..] {
                match part {
                    Component::ParentDir => {
                        resolved.pop();
                    }
                    Component::Normal(name) => resolved.push(name),
                    _ => {}
                }
            }
            return resolved;
        }
    }
    absolute
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::{FsStorage, S3Storage};

    fn fs(root: &Path) -> StorageConfig {
        StorageConfig::Fs(FsStorage {
            root: root.to_path_buf(),
            ..FsStorage::default()
        })
    }

    fn s3(endpoint: Option<&str>, bucket: &str, root: Option<&str>) -> StorageConfig {
        StorageConfig::S3(S3Storage {
            bucket: bucket.to_owned(),
            root: root.map(str::to_owned),
            endpoint: endpoint.map(SecretUrl::new),
            ..S3Storage::default()
        })
    }

    #[test]
    fn fs_roots_are_compared_after_resolving_symlinks_and_dots() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let a = fs(&real.join("backups"));
        let b = fs(&dir.path().join("link/backups"));
        let c = fs(&dir.path().join("real/x/../backups"));
        assert_eq!(a.location(), b.location());
        assert_eq!(a.location(), c.location());
        assert_ne!(a.location(), fs(&real.join("other")).location());
    }

    #[test]
    fn buckets_are_compared_by_service_bucket_and_prefix() {
        let a = s3(Some("http://127.0.0.1:9000"), "b", Some("prod"));
        let b = s3(Some("HTTP://user:pw@127.0.0.1:9000/"), "b", Some("/prod/"));
        assert_eq!(a.location(), b.location());
        assert_ne!(
            a.location(),
            s3(Some("http://127.0.0.1:9000"), "b", Some("dev")).location()
        );
        assert_ne!(
            a.location(),
            s3(Some("http://127.0.0.1:9001"), "b", Some("prod")).location()
        );
        assert_eq!(
            s3(None, "b", None).location(),
            s3(None, "b", Some("/")).location()
        );
        assert_eq!(a.location().to_string(), "s3://b/prod");
        assert!(!format!("{:?}", b.location()).contains("pw"));
    }
}
