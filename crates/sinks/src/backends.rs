//! Builds an OpenDAL [`Operator`] from a [`StorageConfig`], one function per backend, each
//! behind its cargo feature.

use std::path::PathBuf;
use std::sync::Arc;

use opendal::Operator;

use crate::config::{Secret, SecretUrl, StorageConfig};
use crate::error::SinksError;
#[cfg(feature = "fs")]
use crate::local_ops::LocalOps;
use crate::timeouts::Timeouts;

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
    /// Its timeouts and retries.
    pub timeouts: Timeouts,
    /// The credentials it was given, kept out of its error messages.
    pub secrets: Arc<Vec<Secret>>,
}

/// Builds the backend of storage `name`.
pub(crate) fn build(name: &str, config: &StorageConfig) -> Result<Backend, SinksError> {
    let timeouts = config
        .timeouts()
        .map_err(|problem| SinksError::InvalidConfig {
            storage: name.to_owned(),
            problem,
        })?;
    let secrets = Arc::new(secrets(config));
    let mut backend = match config {
        StorageConfig::Fs(fs) => fs::build(name, fs, timeouts),
        StorageConfig::S3(s3) => s3::build(name, s3, timeouts, &secrets),
        StorageConfig::Gcs(gcs) => gcs::build(name, gcs, timeouts, &secrets),
        StorageConfig::Azblob(azblob) => azblob::build(name, azblob, timeouts, &secrets),
    }?;
    backend.secrets = secrets;
    Ok(backend)
}

/// Every credential of `config`, and the user and password of its endpoint URL.
fn secrets(config: &StorageConfig) -> Vec<Secret> {
    let (keys, endpoint): (Vec<&Option<Secret>>, &Option<SecretUrl>) = match config {
        StorageConfig::Fs(_) => (Vec::new(), &None),
        StorageConfig::S3(c) => (
            vec![&c.access_key_id, &c.secret_access_key, &c.session_token],
            &c.endpoint,
        ),
        StorageConfig::Gcs(c) => (vec![&c.credential], &c.endpoint),
        StorageConfig::Azblob(c) => (vec![&c.account_key, &c.sas_token], &c.endpoint),
    };
    let mut secrets: Vec<Secret> = keys.into_iter().flatten().cloned().collect();
    if let Some(userinfo) = endpoint
        .as_ref()
        .and_then(|url| url.expose().split_once("://"))
        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .map(|(userinfo, _)| userinfo)
    {
        secrets.extend(userinfo.split(':').map(Secret::new));
    }
    secrets.retain(|s| !s.is_empty());
    secrets
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

/// Object stores get OpenDAL's timeout layer below its retry layer: each attempt is bounded,
/// and their transient failures (throttling, 5xx, dropped connections, timeouts) are worth
/// retrying with backoff. The local fs gets the timeout layer only (`LocalOps`): OpenDAL
/// marks most local I/O errors as temporary, and retrying e.g. a full disk would only delay
/// the error.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azblob"))]
fn finish_remote<B: opendal::Builder>(
    name: &str,
    kind: &'static str,
    builder: B,
    timeouts: Timeouts,
    secrets: &Arc<Vec<Secret>>,
) -> Result<Operator, SinksError> {
    let op = Operator::new(builder)
        .map_err(|source| SinksError::Backend {
            storage: name.to_owned(),
            kind,
            source: Box::new(source),
        })?
        .layer(timeouts.timeout_layer())
        .layer(timeouts.retry_layer(name, Arc::clone(secrets)))
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
    pub(super) fn build(
        name: &str,
        config: &FsStorage,
        timeouts: Timeouts,
    ) -> Result<Backend, SinksError> {
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
            access: Access::Local(LocalOps::new(root.clone(), timeouts)),
            description: format!("fs:{}", root.display()),
            local_root: Some(root),
            timeouts,
            secrets: Arc::default(),
        })
    }

    #[cfg(not(feature = "fs"))]
    pub(super) fn build(name: &str, _: &FsStorage, _: Timeouts) -> Result<Backend, SinksError> {
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
    pub(super) fn build(
        name: &str,
        config: &S3Storage,
        timeouts: Timeouts,
        secrets: &Arc<Vec<Secret>>,
    ) -> Result<Backend, SinksError> {
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
            access: Access::Remote(finish_remote(name, "s3", builder, timeouts, secrets)?),
            description: remote_description("s3", &config.bucket, config.root.as_deref()),
            local_root: None,
            timeouts,
            secrets: Arc::default(),
        })
    }

    #[cfg(not(feature = "s3"))]
    pub(super) fn build(
        name: &str,
        _: &S3Storage,
        _: Timeouts,
        _: &Arc<Vec<Secret>>,
    ) -> Result<Backend, SinksError> {
        Err(disabled(name, "s3"))
    }
}

mod gcs {
    use super::*;
    use crate::config::GcsStorage;

    #[cfg(feature = "gcs")]
    pub(super) fn build(
        name: &str,
        config: &GcsStorage,
        timeouts: Timeouts,
        secrets: &Arc<Vec<Secret>>,
    ) -> Result<Backend, SinksError> {
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
            access: Access::Remote(finish_remote(name, "gcs", builder, timeouts, secrets)?),
            description: remote_description("gs", &config.bucket, config.root.as_deref()),
            local_root: None,
            timeouts,
            secrets: Arc::default(),
        })
    }

    #[cfg(not(feature = "gcs"))]
    pub(super) fn build(
        name: &str,
        _: &GcsStorage,
        _: Timeouts,
        _: &Arc<Vec<Secret>>,
    ) -> Result<Backend, SinksError> {
        Err(disabled(name, "gcs"))
    }
}

mod azblob {
    use super::*;
    use crate::config::AzblobStorage;

    #[cfg(feature = "azblob")]
    pub(super) fn build(
        name: &str,
        config: &AzblobStorage,
        timeouts: Timeouts,
        secrets: &Arc<Vec<Secret>>,
    ) -> Result<Backend, SinksError> {
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
            access: Access::Remote(finish_remote(name, "azblob", builder, timeouts, secrets)?),
            description: remote_description("azblob", &config.container, config.root.as_deref()),
            local_root: None,
            timeouts,
            secrets: Arc::default(),
        })
    }

    #[cfg(not(feature = "azblob"))]
    pub(super) fn build(
        name: &str,
        _: &AzblobStorage,
        _: Timeouts,
        _: &Arc<Vec<Secret>>,
    ) -> Result<Backend, SinksError> {
        Err(disabled(name, "azblob"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_and_the_endpoint_s_userinfo_are_secrets() {
        let config: StorageConfig = toml::from_str(
            "kind = \"s3\"\nbucket = \"b\"\nendpoint = \"http://minio:pw@host:9000/x\"\n\
             access_key_id = \"AKIA\"\nsecret_access_key = \"sk\"\n",
        )
        .unwrap_or_else(|err| panic!("{err}"));
        let found: Vec<String> = secrets(&config)
            .iter()
            .map(|s| s.expose().to_owned())
            .collect();
        assert_eq!(found, ["AKIA", "sk", "minio", "pw"]);
    }

    #[test]
    fn descriptions() {
        assert_eq!(remote_description("s3", "b", None), "s3://b");
        assert_eq!(remote_description("s3", "b", Some("")), "s3://b");
        assert_eq!(remote_description("s3", "b", Some("/a/b/")), "s3://b/a/b");
    }
}
