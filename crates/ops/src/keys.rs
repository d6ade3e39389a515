//! The transform chain of a backup and the keys of a restore, from the config; making a new
//! identity.

use std::path::Path;

use age::secrecy::ExposeSecret;
use backup_core::transform::{Encryption, Keyring, Transform};
use backup_core::{Manifest, TransformSpec};

use crate::config::Config;
use crate::OpError;

/// Compression then encryption, as configured. Fails closed: unusable encryption settings are
/// an error, never a plaintext backup.
pub fn backup_transforms(config: &Config) -> Result<Vec<Box<dyn Transform>>, OpError> {
    let mut transforms = Vec::new();
    if let Some(compression) =
        config
            .compression
            .transform()
            .map_err(|error| OpError::Transforms {
                table: "compression",
                error: error.into(),
            })?
    {
        transforms.push(compression);
    }
    if let Some(encryption) = &config.encryption {
        let encryption = match &encryption.passphrase {
            Some(passphrase) => Encryption::passphrase(passphrase.expose().to_string().into()),
            None => Encryption::to_recipients(&encryption.recipients).map_err(|error| {
                OpError::Transforms {
                    table: "encryption",
                    error: error.into(),
                }
            })?,
        };
        transforms.push(Box::new(encryption.transform()));
    }
    Ok(transforms)
}

/// The keys to read `manifest`'s backup: none for a plaintext backup; otherwise the configured
/// identity file and passphrase (a missing one is a decrypt failure, exit 12).
pub fn keyring_for(config: &Config, manifest: &Manifest) -> Result<Keyring, OpError> {
    if !manifest.is_encrypted() {
        return Ok(Keyring::new());
    }
    let missing = |reason: &str| OpError::Keys {
        id: manifest.id.to_string(),
        reason: reason.to_string(),
        error: None,
    };
    let Some(encryption) = &config.encryption else {
        return Err(missing(
            "the backup is encrypted and the config has no [encryption] table with an \
             identity_file or passphrase",
        ));
    };
    let to_recipients = manifest
        .transforms
        .iter()
        .any(|t| matches!(t, TransformSpec::AgeX25519 { .. }));
    let mut keyring = match &encryption.identity_file {
        Some(path) if to_recipients => {
            Keyring::from_identity_file(path).map_err(|error| OpError::Keys {
                id: manifest.id.to_string(),
                reason: format!("cannot read the identity file {}", path.display()),
                error: Some(error),
            })?
        }
        _ => Keyring::new(),
    };
    if let Some(passphrase) = &encryption.passphrase {
        keyring = keyring.with_passphrase(passphrase.expose().to_string().into());
    }
    Ok(keyring)
}

/// Writes a new age identity to `path` (mode 0600, never over an existing file) and returns
/// its public recipient, to put in `[encryption] recipients`.
pub fn generate_identity(path: &Path) -> Result<String, OpError> {
    use lifeboat_edge::staged::{Replace, StagedFile};
    use std::io::Write;

    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let write_err = |error| OpError::WriteFile {
        path: path.display().to_string(),
        error,
    };
    let mut staged = StagedFile::beside(path, 0o600).map_err(write_err)?;
    let body = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    staged
        .as_file_mut()
        .write_all(body.as_bytes())
        .map_err(|source| {
            write_err(lifeboat_edge::staged::StageError::Io {
                step: "write",
                path: path.to_path_buf(),
                source,
            })
        })?;
    staged.commit(Replace::Never).map_err(|error| match error {
        lifeboat_edge::staged::StageError::Exists { .. } => OpError::KeyExists {
            path: path.display().to_string(),
        },
        error => write_err(error),
    })?;
    Ok(recipient)
}
