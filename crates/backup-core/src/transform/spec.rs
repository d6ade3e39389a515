//! [`TransformSpec`]: how a transform is recorded in the manifest, so restore can rebuild it.

use serde::{Deserialize, Serialize};

/// One stage of the chain as recorded in the manifest. Public material only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TransformSpec {
    /// zstd compression.
    Zstd {
        /// Compression level, 1 to 19.
        level: i32,
        /// Worker threads used (0 = single-threaded); decompression does not need it.
        #[serde(default)]
        workers: u32,
    },
    /// gzip compression.
    Gzip {
        /// Compression level, 1 to 9.
        level: u32,
    },
    /// age encryption to X25519 recipients.
    AgeX25519 {
        /// The public recipients (`age1...`) the file key was wrapped to.
        recipients: Vec<String>,
    },
    /// age encryption to a passphrase (scrypt).
    AgeScrypt,
}

impl TransformSpec {
    /// The file-name extension this stage adds, e.g. `zst`.
    pub fn extension(&self) -> &'static str {
        match self {
            TransformSpec::Zstd { .. } => "zst",
            TransformSpec::Gzip { .. } => "gz",
            TransformSpec::AgeX25519 { .. } | TransformSpec::AgeScrypt => "age",
        }
    }

    /// Whether this stage encrypts.
    pub fn is_encryption(&self) -> bool {
        matches!(
            self,
            TransformSpec::AgeX25519 { .. } | TransformSpec::AgeScrypt
        )
    }

    /// A short human name, e.g. `zstd-3`, `age`.
    pub fn label(&self) -> String {
        match self {
            TransformSpec::Zstd { level, .. } => format!("zstd-{level}"),
            TransformSpec::Gzip { level } => format!("gzip-{level}"),
            TransformSpec::AgeX25519 { .. } => "age".to_string(),
            TransformSpec::AgeScrypt => "age-passphrase".to_string(),
        }
    }
}
