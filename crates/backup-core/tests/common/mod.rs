//! Shared fixtures for the pipeline tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use backup_core::pipeline::{self, BackupOutcome, BackupRequest, RestoreRequest};
use backup_core::transform::{Compression, Encryption, Keyring, Transform};
use backup_core::{Error, Sink, Source};
pub use lifeboat_testing::BytesSource;
use lifeboat_testing::MemorySink;
use tokio::io::AsyncReadExt;

#[derive(Debug, Clone, Copy)]
pub enum Enc {
    None,
    Recipient,
    Passphrase,
}

pub struct Keys {
    pub identity: age::x25519::Identity,
    pub passphrase: &'static str,
}

impl Keys {
    pub fn new() -> Self {
        Self {
            identity: age::x25519::Identity::generate(),
            passphrase: "correct horse battery staple",
        }
    }

    pub fn transforms(&self, compression: Compression, enc: Enc) -> Vec<Box<dyn Transform>> {
        let mut transforms = Vec::new();
        if let Some(t) = compression.transform().unwrap() {
            transforms.push(t);
        }
        match enc {
            Enc::None => {}
            Enc::Recipient => {
                let recipient = self.identity.to_public().to_string();
                transforms.push(Box::new(
                    Encryption::to_recipients(&[recipient]).unwrap().transform(),
                ));
            }
            Enc::Passphrase => transforms.push(Box::new(
                Encryption::Passphrase {
                    passphrase: self.passphrase.to_string().into(),
                    work_factor: Some(2),
                }
                .transform(),
            )),
        }
        transforms
    }

    pub fn keyring(&self) -> Keyring {
        Keyring::new()
            .with_identities(vec![self.identity.clone()])
            .with_passphrase(self.passphrase.to_string().into())
    }
}

pub async fn backup(
    source: &dyn Source,
    transforms: &[Box<dyn Transform>],
    sinks: &[Arc<dyn Sink>],
) -> Result<BackupOutcome, Error> {
    pipeline::run_backup(BackupRequest {
        source_name: "app",
        source,
        transforms,
        sinks,
        size_hint: None,
        progress: None,
    })
    .await
}

pub async fn read_back(
    sink: &MemorySink,
    outcome: &BackupOutcome,
    keyring: &Keyring,
) -> Result<Vec<u8>, Error> {
    let request = RestoreRequest {
        sink,
        manifest: &outcome.manifest,
        keyring,
        progress: None,
    };
    let mut stream = pipeline::open_restore_stream(&request).await?;
    let mut out = Vec::new();
    match stream.read_to_end(&mut out).await {
        Ok(_) => Ok(out),
        Err(err) => Err(match stream.failure() {
            Some(backup_core::io::StreamError::Integrity(reason)) => Error::Integrity {
                key: outcome.manifest.artifact.key.clone(),
                reason,
            },
            _ => Error::Stream {
                stage: "read",
                error: err,
            },
        }),
    }
}

pub fn sinks(sink: &MemorySink) -> Vec<Arc<dyn Sink>> {
    vec![Arc::new(sink.clone())]
}
