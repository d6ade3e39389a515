//! The transform chain of a backup and the keys of a restore, from the config.

use std::path::Path;

use backup_core::transform::{Encryption, Keyring, Transform};
use backup_core::{Manifest, TransformSpec};

use crate::config::Config;
use crate::exit::{CliError, Exit};

/// Compression then encryption, as configured. Fails closed: unusable encryption settings are
/// an error, never a plaintext backup.
pub fn backup_transforms(config: &Config) -> Result<Vec<Box<dyn Transform>>, CliError> {
    let mut transforms = Vec::new();
    if let Some(compression) = config
        .compression
        .transform()
        .map_err(|e| CliError::usage(format!("[compression]: {e}")))?
    {
        transforms.push(compression);
    }
    if let Some(encryption) = &config.encryption {
        let encryption = match &encryption.passphrase {
            Some(passphrase) => Encryption::passphrase(passphrase.clone().into()),
            None => Encryption::to_recipients(&encryption.recipients)
                .map_err(|e| CliError::usage(format!("[encryption]: {e}")))?,
        };
        transforms.push(Box::new(encryption.transform()));
    }
    Ok(transforms)
}

/// The keys to read `manifest`'s backup: none for a plaintext backup; otherwise the configured
/// identity file and passphrase (a missing one is exit 12).
pub fn keyring_for(config: &Config, manifest: &Manifest) -> Result<Keyring, CliError> {
    if !manifest.is_encrypted() {
        return Ok(Keyring::new());
    }
    let decrypt_error = |message: String| CliError {
        exit: Exit::Decrypt,
        error: anyhow::anyhow!("cannot decrypt backup {}: {message}", manifest.id),
    };
    let Some(encryption) = &config.encryption else {
        return Err(decrypt_error(
            "the backup is encrypted and the config has no [encryption] table with an \
             identity_file or passphrase"
                .to_string(),
        ));
    };
    let to_recipients = manifest
        .transforms
        .iter()
        .any(|t| matches!(t, TransformSpec::AgeX25519 { .. }));
    let mut keyring = match &encryption.identity_file {
        Some(path) if to_recipients => {
            load_identity(path).map_err(|e| decrypt_error(e.to_string()))?
        }
        _ => Keyring::new(),
    };
    if let Some(passphrase) = &encryption.passphrase {
        keyring = keyring.with_passphrase(passphrase.clone().into());
    }
    Ok(keyring)
}

fn load_identity(path: &Path) -> Result<Keyring, backup_core::transform::KeyError> {
    Keyring::from_identity_file(path)
}
