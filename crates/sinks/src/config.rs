//! The `[storage.NAME]` tables of `lifeboat.toml`.
//!
//! The doc comments of these types are the configuration reference: every field below is a
//! key of a storage table, and unknown keys are errors.
//!
//! ```toml
//! [storage.local]
//! kind = "fs"
//! root = "./backups"
//!
//! [storage.offsite]
//! kind = "s3"
//! bucket = "backups"
//! endpoint = "http://127.0.0.1:9000"
//! region = "us-east-1"
//! access_key_id = "${S3_ACCESS_KEY_ID}"
//! secret_access_key = "${S3_SECRET_ACCESS_KEY}"
//! ```
//!
//! Secrets ([`Secret`]) never show in `Debug` output, logs or errors: they print as `"***"`;
//! an `endpoint` ([`SecretUrl`]), which may carry credentials, shows with them removed.

use std::path::PathBuf;
use std::time::Duration;

pub use lifeboat_edge::{HumanDuration, Secret, SecretUrl};
use serde::Deserialize;

use crate::timeouts::Timeouts;

/// Where backups are stored. The `kind` key picks the backend: `fs`, `s3`, `gcs` or `azblob`.
///
/// The backends other than `fs` are cargo features of `lifeboat-sinks` (all on by default);
/// a config naming a backend that is compiled out parses, and fails with a clear error when
/// the storage is opened.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StorageConfig {
    /// A local (or mounted) directory: `kind = "fs"`.
    Fs(FsStorage),
    /// Amazon S3 or an S3-compatible server (MinIO, Ceph, R2, moto...): `kind = "s3"`.
    S3(S3Storage),
    /// Google Cloud Storage: `kind = "gcs"`.
    Gcs(GcsStorage),
    /// Azure Blob Storage: `kind = "azblob"`.
    Azblob(AzblobStorage),
}

impl StorageConfig {
    /// The backend's `kind` as written in the config: `fs`, `s3`, `gcs` or `azblob`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Fs(_) => "fs",
            Self::S3(_) => "s3",
            Self::Gcs(_) => "gcs",
            Self::Azblob(_) => "azblob",
        }
    }

    /// The storage's timeouts and retries: the configured values over the defaults of its
    /// kind ([`Timeouts::FS`], [`Timeouts::OBJECT_STORE`]). A zero timeout is an error naming
    /// the key.
    pub fn timeouts(&self) -> Result<Timeouts, String> {
        let (defaults, timeout, io_timeout, retries) = match self {
            Self::Fs(c) => (Timeouts::FS, c.timeout, c.io_timeout, None),
            Self::S3(c) => (Timeouts::OBJECT_STORE, c.timeout, c.io_timeout, c.retries),
            Self::Gcs(c) => (Timeouts::OBJECT_STORE, c.timeout, c.io_timeout, c.retries),
            Self::Azblob(c) => (Timeouts::OBJECT_STORE, c.timeout, c.io_timeout, c.retries),
        };
        let positive = |key: &str, value: Option<HumanDuration>, default: Duration| match value {
            None => Ok(default),
            Some(d) if d.as_secs() == 0 => Err(format!("`{key}` must be at least 1s")),
            Some(d) => Ok(d.as_std()),
        };
        Ok(Timeouts {
            timeout: positive("timeout", timeout, defaults.timeout)?,
            io_timeout: positive("io_timeout", io_timeout, defaults.io_timeout)?,
            retries: retries.unwrap_or(defaults.retries),
        })
    }
}

/// `kind = "fs"`: backups under a local directory.
///
/// Lifeboat creates the root (if missing) and every directory below it with mode 0700, and
/// every file with mode 0600. Uploads are first written to the hidden folder
/// `<root>/.lifeboat-tmp/` and renamed into place once complete, so a partial file never
/// appears under its final name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsStorage {
    /// The directory that holds the backups, e.g. `"./backups"` or `"/var/backups/lifeboat"`.
    /// A relative path is relative to the working directory.
    pub root: PathBuf,
    /// How long one file operation that moves no data (a stat, a delete, a rename) may take.
    /// Default: `"30s"`.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// How long one read or write of data may take, finishing (fsyncing) a file included.
    /// Default: `"60s"`.
    #[serde(default)]
    pub io_timeout: Option<HumanDuration>,
}

/// `kind = "s3"`: Amazon S3 or any S3-compatible server.
///
/// Without `access_key_id`/`secret_access_key`, credentials come from the usual AWS sources:
/// the `AWS_*` environment variables, `~/.aws/config` and `~/.aws/credentials` profiles, web
/// identity, or the instance metadata service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Storage {
    /// The bucket, e.g. `"backups"`. It must already exist.
    pub bucket: String,
    /// An optional prefix inside the bucket under which everything is stored, e.g. `"prod/db"`.
    #[serde(default)]
    pub root: Option<String>,
    /// The service URL, for S3-compatible servers, e.g. `"http://127.0.0.1:9000"`.
    /// Default: AWS S3 in `region`. Treated as a secret (it may carry credentials).
    #[serde(default)]
    pub endpoint: Option<SecretUrl>,
    /// The signing region. Default: `"us-east-1"` (what most S3-compatible servers expect).
    #[serde(default)]
    pub region: Option<String>,
    /// The access key id. Optional: see above for where credentials come from otherwise.
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    /// The secret access key, best given as `"${S3_SECRET_ACCESS_KEY}"` rather than in clear.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// A session token, for temporary credentials.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// Address the bucket as `https://BUCKET.ENDPOINT/` (virtual-hosted style) instead of
    /// `https://ENDPOINT/BUCKET/` (path style, the default, which every S3-compatible server
    /// accepts). Default: `false`.
    #[serde(default)]
    pub virtual_host_style: bool,
    /// How long one request that moves no data (a stat, a delete, starting or aborting an
    /// upload) may take, per attempt. Default: `"10s"`.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// How long one transfer may take, per attempt: one part of an upload (16 MiB unless the
    /// backup is large), one 8 MiB range of a read, one page of a listing, finishing an upload.
    /// Default: `"20s"`; raise it on a link slower than about 1 MiB/s.
    #[serde(default)]
    pub io_timeout: Option<HumanDuration>,
    /// How many times a failed or timed-out request is tried again, after 1 s, 2 s, 4 s...
    /// (with jitter). Default: `3`.
    #[serde(default)]
    pub retries: Option<u32>,
}

/// `kind = "gcs"`: Google Cloud Storage.
///
/// Without `credential` or `credential_path`, credentials come from
/// `GOOGLE_APPLICATION_CREDENTIALS`, the gcloud well-known file or the VM metadata server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsStorage {
    /// The bucket, e.g. `"backups"`. It must already exist.
    pub bucket: String,
    /// An optional prefix inside the bucket under which everything is stored.
    #[serde(default)]
    pub root: Option<String>,
    /// The path of a service-account JSON key file.
    #[serde(default)]
    pub credential_path: Option<PathBuf>,
    /// A service-account JSON key, base64-encoded (an alternative to `credential_path`).
    #[serde(default)]
    pub credential: Option<Secret>,
    /// The service URL. Default: `https://storage.googleapis.com`. Treated as a secret (it may
    /// carry credentials).
    #[serde(default)]
    pub endpoint: Option<SecretUrl>,
    /// How long one request that moves no data (a stat, a delete, starting or aborting an
    /// upload) may take, per attempt. Default: `"10s"`.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// How long one transfer may take, per attempt: one part of an upload (16 MiB unless the
    /// backup is large), one 8 MiB range of a read, one page of a listing, finishing an upload.
    /// Default: `"20s"`; raise it on a link slower than about 1 MiB/s.
    #[serde(default)]
    pub io_timeout: Option<HumanDuration>,
    /// How many times a failed or timed-out request is tried again, after 1 s, 2 s, 4 s...
    /// (with jitter). Default: `3`.
    #[serde(default)]
    pub retries: Option<u32>,
}

/// `kind = "azblob"`: Azure Blob Storage.
///
/// Without `account_key` or `sas_token`, credentials come from the `AZURE_STORAGE_*`
/// environment variables or a managed identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzblobStorage {
    /// The container, e.g. `"backups"`. It must already exist.
    pub container: String,
    /// An optional prefix inside the container under which everything is stored.
    #[serde(default)]
    pub root: Option<String>,
    /// The storage account name, e.g. `"mycompany"`.
    #[serde(default)]
    pub account_name: Option<String>,
    /// The storage account key (base64, as shown by the Azure portal).
    #[serde(default)]
    pub account_key: Option<Secret>,
    /// A shared access signature token (an alternative to `account_key`).
    #[serde(default)]
    pub sas_token: Option<Secret>,
    /// The service URL. Default: `https://ACCOUNT_NAME.blob.core.windows.net`, which needs
    /// `account_name`. Treated as a secret (it may carry credentials).
    #[serde(default)]
    pub endpoint: Option<SecretUrl>,
    /// How long one request that moves no data (a stat, a delete, starting or aborting an
    /// upload) may take, per attempt. Default: `"10s"`.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// How long one transfer may take, per attempt: one part of an upload (16 MiB unless the
    /// backup is large), one 8 MiB range of a read, one page of a listing, finishing an upload.
    /// Default: `"20s"`; raise it on a link slower than about 1 MiB/s.
    #[serde(default)]
    pub io_timeout: Option<HumanDuration>,
    /// How many times a failed or timed-out request is tried again, after 1 s, 2 s, 4 s...
    /// (with jitter). Default: `3`.
    #[serde(default)]
    pub retries: Option<u32>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_readme_s3_example_deserializes() {
        let toml = r#"
            kind = "s3"
            bucket = "backups"
            endpoint = "http://127.0.0.1:9000"
            region = "us-east-1"
            access_key_id = "AKIA..."
            secret_access_key = "..."
        "#;
        let config: StorageConfig = toml::from_str(toml).unwrap();
        let StorageConfig::S3(s3) = &config else {
            panic!("not s3: {config:?}");
        };
        assert_eq!(s3.bucket, "backups");
        assert_eq!(
            s3.endpoint.as_ref().map(SecretUrl::expose),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(s3.region.as_deref(), Some("us-east-1"));
        assert_eq!(s3.access_key_id.as_ref().unwrap().expose(), "AKIA...");
        assert_eq!(s3.secret_access_key.as_ref().unwrap().expose(), "...");
        assert_eq!(s3.root, None);
        assert_eq!(s3.session_token, None);
        assert!(!s3.virtual_host_style);
        assert_eq!(config.kind(), "s3");
    }

    #[test]
    fn storage_tables_deserialize_by_name() {
        #[derive(Deserialize)]
        struct File {
            storage: std::collections::BTreeMap<String, StorageConfig>,
        }
        let toml = r#"
            [storage.local]
            kind = "fs"
            root = "./backups"

            [storage.gcs]
            kind = "gcs"
            bucket = "b"
            root = "prod"
            credential_path = "/etc/key.json"

            [storage.azure]
            kind = "azblob"
            container = "c"
            account_name = "acct"
            account_key = "a2V5"
        "#;
        let file: File = toml::from_str(toml).unwrap();
        assert_eq!(
            file.storage["local"],
            StorageConfig::Fs(FsStorage {
                root: PathBuf::from("./backups"),
                ..FsStorage::default()
            })
        );
        assert_eq!(file.storage["gcs"].kind(), "gcs");
        assert_eq!(file.storage["azure"].kind(), "azblob");
    }

    #[test]
    fn unknown_keys_and_kinds_are_errors() {
        let err = toml::from_str::<StorageConfig>("kind = \"fs\"\nroot = \"/x\"\nrot = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rot"), "{err}");

        let err = toml::from_str::<StorageConfig>("kind = \"ftp\"\nroot = \"/x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ftp"), "{err}");

        let err = toml::from_str::<StorageConfig>("kind = \"s3\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bucket"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let toml = r#"
            kind = "s3"
            bucket = "backups"
            access_key_id = "AKIAEXAMPLEKEYID"
            secret_access_key = "very-secret-value"
            session_token = "token-value"
            endpoint = "https://minio:endpoint-password@s3.internal:9000"
        "#;
        let config: StorageConfig = toml::from_str(toml).unwrap();
        let debug = format!("{config:?} {config:#?}");
        assert!(debug.contains("s3.internal"), "{debug}");
        for secret in [
            "AKIAEXAMPLEKEYID",
            "very-secret-value",
            "token-value",
            "endpoint-password",
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("\"***\""), "{debug}");

        let azure = StorageConfig::Azblob(AzblobStorage {
            container: "c".into(),
            root: None,
            account_name: Some("acct".into()),
            account_key: Some(Secret::new("azure-key")),
            sas_token: Some("sas-token".into()),
            endpoint: Some("https://acct:azure-endpoint-key@blob.internal".into()),
            ..AzblobStorage::default()
        });
        let gcs = StorageConfig::Gcs(GcsStorage {
            bucket: "b".into(),
            root: None,
            credential_path: None,
            credential: Some(Secret::from("gcs-cred".to_owned())),
            endpoint: None,
            ..GcsStorage::default()
        });
        let debug = format!("{azure:?} {gcs:?}");
        for secret in ["azure-key", "sas-token", "gcs-cred", "azure-endpoint-key"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
