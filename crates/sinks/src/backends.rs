//! Builds an OpenDAL [`Operator`] from a [`StorageConfig`], one function per backend, each
//! behind its cargo feature.

use std::path::PathBuf;

use opendal::Operator;

use crate::config::StorageConfig;
use crate::error::SinksError;
#[cfg(feature = "fs")]
use crate::local_ops::LocalOps;

/// How a sink reaches its storage.
pub(crate) enum Access {
    /// Object stores: one operator, built without any I/O.
    #[cfg_attr(
        not(any(feature = "s3", feature = "gcs", feature = "azblob")),
        allow(dead_code)
    )]
    Remote(Operator),
    /// Local fs: operators built on first use, so opening a storage never touches the disk.
    #[cfg(feature = "fs")]
    Local(LocalOps),
}

/// A backend ready to use, with what the sink needs to know about it.
pub(crate) struct Backend {
    /// How to reach it.
    pub access: Access,
    /// `fs:/abs/root`, `s3://bucket/prefix`... never a secret.
    pub description: String,
    /// For fs: the absolute root directory.
    pub local_root: Option<PathBuf>,
}

/// Builds the backend of storage `name`.
pub(crate) fn build(name: &str, config: &StorageConfig) -> Result<Backend, SinksError> {
    match config {
        StorageConfig::Fs(fs) => fs::build(name, fs),
        StorageConfig::S3(s3) => s3::build(name, s3),
        StorageConfig::Gcs(gcs) => gcs::build(name, gcs),
        StorageConfig::Azblob(azblob) => azblob::build(name, azblob),
    }
}

/// `bucket` + optional `root` as `scheme://bucket/root`.
#[cfg_attr(
    not(any(feature = "s3", feature = "gcs", feature = "azblob")),
    allow(dead_code)
)]
fn remote_description(scheme: &str, bucket: &str, root: Option<&str>) -> String {
    match root.map(|r| r.trim_matches('/')).filter(|r| !r.is_empty()) {
        Some(root) => format!("{scheme}://{bucket}/{root}"),
        None => format!("{scheme}://{bucket}"),
    }
}

/// Object stores get OpenDAL's retry layer: their transient failures (throttling, 5xx,
/// dropped connections) are worth retrying with backoff. The local fs does not: OpenDAL marks
/// most local I/O errors as temporary, and retrying e.g. a full disk would only delay the error.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azblob"))]
fn finish_remote<B: opendal::Builder>(
    name: &str,
    kind: &'static str,
    builder: B,
) -> Result<Operator, SinksError> {
    let op = Operator::new(builder)
        .map_err(|source| SinksError::Backend {
            storage: name.to_owned(),
            kind,
            source: Box::new(source),
        })?
        .layer(opendal::layers::RetryLayer::new().with_jitter())
        .finish();
    Ok(op)
}

#[cfg(any(not(feature = "s3"), not(feature = "gcs"), not(feature = "azblob")))]
fn disabled(name: &str, kind: &'static str) -> SinksError {
    SinksError::FeatureDisabled {
        storage: name.to_owned(),
        kind,
    }
}

#[cfg_attr(
    not(any(feature = "s3", feature = "gcs", feature = "azblob")),
    allow(dead_code)
)]
fn require_non_empty(name: &str, key: &str, value: &str) -> Result<(), SinksError> {
    if value.trim().is_empty() {
        return Err(SinksError::InvalidConfig {
            storage: name.to_owned(),
            problem: format!("`{key}` is empty"),
        });
    }
    Ok(())
}

mod fs {
    use super::*;
    use crate::config::FsStorage;

    /// Resolves the root; creates nothing (see [`LocalOps`]).
    #[cfg(feature = "fs")]
    pub(super) fn build(name: &str, config: &FsStorage) -> Result<Backend, SinksError> {
        if config.root.as_os_str().is_empty() {
            return Err(SinksError::InvalidConfig {
                storage: name.to_owned(),
                problem: "`root` is empty".to_owned(),
            });
        }
        let root = std::path::absolute(&config.root).map_err(|source| SinksError::LocalDir {
            storage: name.to_owned(),
            path: config.root.clone(),
            source,
        })?;
        if root.to_str().is_none() {
            return Err(SinksError::InvalidConfig {
                storage: name.to_owned(),
                problem: format!("`root` ({}) is not valid UTF-8", root.display()),
            });
        }
        Ok(Backend {
            access: Access::Local(LocalOps::new(name, root.clone())),
            description: format!("fs:{}", root.display()),
            local_root: Some(root),
        })
    }

    #[cfg(not(feature = "fs"))]
    pub(super) fn build(name: &str, _: &FsStorage) -> Result<Backend, SinksError> {
        Err(SinksError::FeatureDisabled {
            storage: name.to_owned(),
            kind: "fs",
        })
    }
}

mod s3 {
    use super::*;
    use crate::config::S3Storage;

    /// The region used when the config gives none.
    #[cfg(feature = "s3")]
    const DEFAULT_REGION: &str = "us-east-1";

    #[cfg(feature = "s3")]
    pub(super) fn build(name: &str, config: &S3Storage) -> Result<Backend, SinksError> {
        require_non_empty(name, "bucket", &config.bucket)?;
        let mut builder = opendal::services::S3::default()
            .bucket(&config.bucket)
            .region(config.region.as_deref().unwrap_or(DEFAULT_REGION));
        if let Some(root) = &config.root {
            builder = builder.root(root);
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint(endpoint.expose());
        }
        if let Some(v) = &config.access_key_id {
            builder = builder.access_key_id(v.expose());
        }
        if let Some(v) = &config.secret_access_key {
            builder = builder.secret_access_key(v.expose());
        }
        if let Some(v) = &config.session_token {
            builder = builder.session_token(v.expose());
        }
        if config.virtual_host_style {
            builder = builder.enable_virtual_host_style();
        }
        Ok(Backend {
            access: Access::Remote(finish_remote(name, "s3", builder)?),
            description: remote_description("s3", &config.bucket, config.root.as_deref()),
            local_root: None,
        })
    }

    #[cfg(not(feature = "s3"))]
    pub(super) fn build(name: &str, _: &S3Storage) -> Result<Backend, SinksError> {
        Err(disabled(name, "s3"))
    }
}

mod gcs {
    use super::*;
    use crate::config::GcsStorage;

    #[cfg(feature = "gcs")]
    pub(super) fn build(name: &str, config: &GcsStorage) -> Result<Backend, SinksError> {
        require_non_empty(name, "bucket", &config.bucket)?;
        let mut builder = opendal::services::Gcs::default().bucket(&config.bucket);
        if let Some(root) = &config.root {
            builder = builder.root(root);
        }
        if let Some(path) = &config.credential_path {
            let Some(path) = path.to_str() else {
                return Err(SinksError::InvalidConfig {
                    storage: name.to_owned(),
                    problem: "`credential_path` is not valid UTF-8".to_owned(),
                });
            };
            builder = builder.credential_path(path);
        }
        if let Some(credential) = &config.credential {
            builder = builder.credential(credential.expose());
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint(endpoint.expose());
        }
        Ok(Backend {
            access: Access::Remote(finish_remote(name, "gcs", builder)?),
            description: remote_description("gs", &config.bucket, config.root.as_deref()),
            local_root: None,
        })
    }

    #[cfg(not(feature = "gcs"))]
    pub(super) fn build(name: &str, _: &GcsStorage) -> Result<Backend, SinksError> {
        Err(disabled(name, "gcs"))
    }
}

mod azblob {
    use super::*;
    use crate::config::AzblobStorage;

    #[cfg(feature = "azblob")]
    pub(super) fn build(name: &str, config: &AzblobStorage) -> Result<Backend, SinksError> {
        require_non_empty(name, "container", &config.container)?;
        let endpoint = match (&config.endpoint, &config.account_name) {
            (Some(endpoint), _) => endpoint.expose().to_owned(),
            (None, Some(account)) => format!("https://{account}.blob.core.windows.net"),
            (None, None) => {
                return Err(SinksError::InvalidConfig {
                    storage: name.to_owned(),
                    problem: "set `endpoint` or `account_name`".to_owned(),
                })
            }
        };
        let mut builder = opendal::services::Azblob::default()
            .container(&config.container)
            .endpoint(&endpoint);
        if let Some(root) = &config.root {
            builder = builder.root(root);
        }
        if let Some(account) = &config.account_name {
            builder = builder.account_name(account);
        }
        if let Some(key) = &config.account_key {
            builder = builder.account_key(key.expose());
        }
        if let Some(token) = &config.sas_token {
            builder = builder.sas_token(token.expose());
        }
        Ok(Backend {
            access: Access::Remote(finish_remote(name, "azblob", builder)?),
            description: remote_description("azblob", &config.container, config.root.as_deref()),
            local_root: None,
        })
    }

    #[cfg(not(feature = "azblob"))]
    pub(super) fn build(name: &str, _: &AzblobStorage) -> Result<Backend, SinksError> {
        Err(disabled(name, "azblob"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        assert_eq!(remote_description("s3", "b", None), "s3://b");
        assert_eq!(remote_description("s3", "b", Some("")), "s3://b");
        assert_eq!(remote_description("s3", "b", Some("/a/b/")), "s3://b/a/b");
    }
}
