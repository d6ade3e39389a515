//! [`Keyring`]: the private keys restore and verify need (identities, passphrase).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use age::secrecy::SecretString;
use age::x25519;

/// Key material that could not be loaded. Messages never include secret material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The identity file cannot be read.
    #[error("cannot read identity file {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// A line of the identity file is not an age X25519 identity.
    #[error(
        "identity file {path}, line {line}: not an age identity (expected AGE-SECRET-KEY-1...)"
    )]
    BadIdentity {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
    },
    /// The identity file holds no identity.
    #[error("identity file {path} holds no identity")]
    Empty {
        /// The file.
        path: String,
    },
    /// A recipient string is not an age X25519 recipient.
    #[error("`{0}` is not an age recipient (expected age1...)")]
    BadRecipient(String),
}

/// Private keys for decryption. Cheap to clone; `Debug` never shows a key.
#[derive(Clone, Default)]
pub struct Keyring {
    identities: Arc<Vec<x25519::Identity>>,
    passphrase: Option<SecretString>,
    max_work_factor: Option<u8>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("identities", &self.identities.len())
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Keyring {
    /// An empty keyring (can only restore unencrypted backups).
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the X25519 identities of an age identity file (`lifeboat keygen` writes one).
    /// Blank lines and `#` comments are skipped.
    pub fn from_identity_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| KeyError::Read {
            path: shown.clone(),
            error,
        })?;
        let identities = parse_identities(&text, &shown)?;
        if let Ok(Some(mode)) = identity_file_exposure(path) {
            // The key decrypts every backup: say so each time it is read, never what it holds.
            tracing::warn!(
                path = %shown,
                mode = %format_args!("{mode:04o}"),
                "the age identity file can be read by its group or others: chmod 600 it"
            );
        }
        Ok(Self::new().with_identities(identities))
    }

    /// Adds identities.
    pub fn with_identities(mut self, identities: Vec<x25519::Identity>) -> Self {
        Arc::make_mut(&mut self.identities).extend(identities);
        self
    }

    /// Adds a passphrase (for backups encrypted with `passphrase = ...`).
    pub fn with_passphrase(mut self, passphrase: SecretString) -> Self {
        self.passphrase = Some(passphrase);
        self
    }

    /// Caps the scrypt work factor accepted on decryption (age's default guards against a
    /// hostile header asking for hours of work).
    pub fn with_max_work_factor(mut self, factor: u8) -> Self {
        self.max_work_factor = Some(factor);
        self
    }

    /// The X25519 identities.
    pub fn identities(&self) -> &[x25519::Identity] {
        &self.identities
    }

    /// The passphrase, if any.
    pub fn passphrase(&self) -> Option<&SecretString> {
        self.passphrase.as_ref()
    }

    /// The scrypt work-factor cap, if set.
    pub fn max_work_factor(&self) -> Option<u8> {
        self.max_work_factor
    }

    /// Whether the keyring holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty() && self.passphrase.is_none()
    }
}

/// The permission bits of an identity file whose group or others have any access to it
/// (`Some(0o644)`), `None` when only its owner has (or off Unix). Symlinks are followed: the
/// key's own file counts.
pub fn identity_file_exposure(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

fn parse_identities(text: &str, path: &str) -> Result<Vec<x25519::Identity>, KeyError> {
    let mut identities = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let identity = line
            .parse::<x25519::Identity>()
            .map_err(|_| KeyError::BadIdentity {
                path: path.to_string(),
                line: index + 1,
            })?;
        identities.push(identity);
    }
    if identities.is_empty() {
        return Err(KeyError::Empty {
            path: path.to_string(),
        });
    }
    Ok(identities)
}

/// Parses public recipients (`age1...`).
pub fn parse_recipients(recipients: &[String]) -> Result<Vec<x25519::Recipient>, KeyError> {
    recipients
        .iter()
        .map(|r| {
            r.trim()
                .parse::<x25519::Recipient>()
                .map_err(|_| KeyError::BadRecipient(r.clone()))
        })
        .collect()
}
