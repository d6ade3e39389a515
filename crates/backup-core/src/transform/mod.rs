//! Transforms: the stages between a source and storage (compression, encryption).

mod age_encryption;
mod compression;
mod keyring;
pub mod spec;

use async_trait::async_trait;

pub use age_encryption::{AgeTransform, Encryption};
pub use compression::{
    Compression, GzipTransform, ZstdTransform, DEFAULT_ZSTD_WORKERS, MAX_ZSTD_WORKERS,
};
pub use keyring::{identity_file_exposure, KeyError, Keyring};

use crate::io::BoxWriter;
use crate::BoxReader;
use spec::TransformSpec;

/// A transform failed to start (bad key material, a header that does not parse).
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The data cannot be decrypted with the keys at hand (wrong or missing identity or
    /// passphrase).
    #[error("{0}")]
    Decrypt(String),
    /// The encrypted header is malformed.
    #[error("{0}")]
    Corrupt(String),
    /// A transform setting is invalid (e.g. a level out of range).
    #[error("{0}")]
    Config(String),
    /// Encryption is configured but cannot be used.
    #[error("{0}")]
    Encrypt(String),
    /// Writing or reading the stage's header failed.
    #[error("{stage}: {error}")]
    Io {
        /// The stage.
        stage: &'static str,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
}

/// One stage of the byte path. Backup wraps writers in the configured order; restore rebuilds
/// each stage from its [`TransformSpec`] (see [`transform_for_restore`]) and wraps readers in
/// reverse order.
#[async_trait]
pub trait Transform: Send + Sync {
    /// What goes into the manifest (public material only).
    fn spec(&self) -> TransformSpec;

    /// Wraps a writer: bytes written to the result come out transformed into `inner`.
    /// Shutting down the result must finish the stage (frame end, final chunk) and then shut
    /// down `inner`.
    async fn wrap_writer(&self, inner: BoxWriter) -> Result<BoxWriter, TransformError>;

    /// Wraps a reader: reading the result undoes the stage on the bytes of `inner`.
    async fn wrap_reader(&self, inner: BoxReader) -> Result<BoxReader, TransformError>;
}

/// Rebuilds the transform a manifest's spec describes, with the keys needed to undo it.
pub fn transform_for_restore(spec: &TransformSpec, keyring: &Keyring) -> Box<dyn Transform> {
    match spec {
        TransformSpec::Zstd { level, workers } => Box::new(ZstdTransform {
            level: *level,
            workers: *workers,
        }),
        TransformSpec::Gzip { level } => Box::new(GzipTransform { level: *level }),
        TransformSpec::AgeX25519 { .. } | TransformSpec::AgeScrypt => {
            Box::new(AgeTransform::for_restore(spec.clone(), keyring.clone()))
        }
    }
}
