//! age encryption: to X25519 recipients (backup needs only public keys) or to a passphrase.

use std::fmt;
use std::iter;

use age::secrecy::SecretString;
use age::{scrypt, x25519, DecryptError, Decryptor, Encryptor};
use async_trait::async_trait;
use tokio_util::compat::{FuturesAsyncReadCompatExt, FuturesAsyncWriteCompatExt};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use super::keyring::parse_recipients;
use super::{KeyError, Keyring, Transform, TransformError, TransformSpec};
use crate::io::{BoxWriter, MapErrReader};
use crate::BoxReader;

/// What a backup is encrypted to. `Debug` never shows the passphrase.
#[derive(Clone)]
pub enum Encryption {
    /// Public X25519 recipients: backups need no secret at all.
    Recipients(Vec<x25519::Recipient>),
    /// A passphrase (scrypt).
    Passphrase {
        /// The passphrase.
        passphrase: SecretString,
        /// scrypt log2 work factor; `None` is age's default (about a second).
        work_factor: Option<u8>,
    },
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Encryption::Recipients(recipients) => f
                .debug_tuple("Recipients")
                .field(
                    &recipients
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                )
                .finish(),
            Encryption::Passphrase { .. } => f.write_str("Passphrase(***)"),
        }
    }
}

impl Encryption {
    /// Encryption to the given `age1...` recipients; an empty list is an error (fail closed:
    /// never fall back to a plaintext backup).
    pub fn to_recipients(recipients: &[String]) -> Result<Self, KeyError> {
        if recipients.is_empty() {
            return Err(KeyError::BadRecipient(String::new()));
        }
        Ok(Encryption::Recipients(parse_recipients(recipients)?))
    }

    /// Encryption to a passphrase with age's default work factor.
    pub fn passphrase(passphrase: SecretString) -> Self {
        Encryption::Passphrase {
            passphrase,
            work_factor: None,
        }
    }

    /// The backup-side transform.
    pub fn transform(&self) -> AgeTransform {
        let spec = match self {
            Encryption::Recipients(recipients) => TransformSpec::AgeX25519 {
                recipients: recipients.iter().map(ToString::to_string).collect(),
            },
            Encryption::Passphrase { .. } => TransformSpec::AgeScrypt,
        };
        AgeTransform {
            spec,
            encryption: Some(self.clone()),
            keyring: Keyring::new(),
        }
    }
}

/// The age stage. Built by [`Encryption::transform`] for backup, or from a manifest spec and a
/// [`Keyring`] for restore.
pub struct AgeTransform {
    spec: TransformSpec,
    encryption: Option<Encryption>,
    keyring: Keyring,
}

impl AgeTransform {
    /// The restore-side stage for `spec`, decrypting with `keyring`.
    pub fn for_restore(spec: TransformSpec, keyring: Keyring) -> Self {
        Self {
            spec,
            encryption: None,
            keyring,
        }
    }

    fn encryptor(&self) -> Result<Encryptor, TransformError> {
        let encrypt_err = |e: age::EncryptError| TransformError::Encrypt(e.to_string());
        match &self.encryption {
            None => Err(TransformError::Encrypt(
                "this age stage was built for restore and holds no recipients".to_string(),
            )),
            Some(Encryption::Recipients(recipients)) => {
                Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(encrypt_err)
            }
            Some(Encryption::Passphrase {
                passphrase,
                work_factor,
            }) => {
                let mut recipient = scrypt::Recipient::new(passphrase.clone());
                if let Some(factor) = work_factor {
                    recipient.set_work_factor(*factor);
                }
                Encryptor::with_recipients(iter::once(&recipient as &dyn age::Recipient))
                    .map_err(encrypt_err)
            }
        }
    }
}

fn decrypt_error(err: DecryptError) -> TransformError {
    match err {
        DecryptError::NoMatchingKeys => TransformError::Decrypt(
            "no configured identity matches the backup's recipients (wrong identity_file?)"
                .to_string(),
        ),
        DecryptError::DecryptionFailed | DecryptError::KeyDecryptionFailed => {
            TransformError::Decrypt("wrong passphrase or key".to_string())
        }
        DecryptError::ExcessiveWork { required, target } => TransformError::Decrypt(format!(
            "the passphrase's scrypt work factor {required} is above the allowed {target}"
        )),
        DecryptError::InvalidHeader | DecryptError::InvalidMac | DecryptError::UnknownFormat => {
            TransformError::Corrupt(format!("age header: {err}"))
        }
        DecryptError::Io(error) => TransformError::Io {
            stage: "age header",
            error,
        },
    }
}

#[async_trait]
impl Transform for AgeTransform {
    fn spec(&self) -> TransformSpec {
        self.spec.clone()
    }

    async fn wrap_writer(&self, inner: BoxWriter) -> Result<BoxWriter, TransformError> {
        let encryptor = self.encryptor()?;
        let writer = encryptor
            .wrap_async_output(inner.compat_write())
            .await
            .map_err(|error| TransformError::Io {
                stage: "age header",
                error,
            })?;
        Ok(Box::new(writer.compat_write()))
    }

    async fn wrap_reader(&self, inner: BoxReader) -> Result<BoxReader, TransformError> {
        let decryptor = Decryptor::new_async(inner.compat())
            .await
            .map_err(decrypt_error)?;
        let reader = if decryptor.is_scrypt() {
            let passphrase = self.keyring.passphrase().ok_or_else(|| {
                TransformError::Decrypt(
                    "the backup is encrypted with a passphrase and none is configured \
                     (encryption.passphrase)"
                        .to_string(),
                )
            })?;
            let mut identity = scrypt::Identity::new(passphrase.clone());
            if let Some(factor) = self.keyring.max_work_factor() {
                identity.set_max_work_factor(factor);
            }
            decryptor
                .decrypt_async(iter::once(&identity as &dyn age::Identity))
                .map_err(decrypt_error)?
        } else {
            if self.keyring.identities().is_empty() {
                return Err(TransformError::Decrypt(
                    "the backup is encrypted to age recipients and no identity is configured \
                     (encryption.identity_file)"
                        .to_string(),
                ));
            }
            decryptor
                .decrypt_async(
                    self.keyring
                        .identities()
                        .iter()
                        .map(|i| i as &dyn age::Identity),
                )
                .map_err(decrypt_error)?
        };
        Ok(Box::new(MapErrReader::new(
            reader.compat(),
            "age decryption",
        )))
    }
}
