//! The `[encryption]` table.

use std::path::PathBuf;

use lifeboat_edge::Secret;
use serde::Deserialize;

/// The `[encryption]` table: age recipients (public keys, all a backup needs) and the
/// identity file (private key) a restore needs, or a passphrase instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Public `age1...` recipients; backup needs only these.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The age identity file (private key), needed to restore and verify.
    pub identity_file: Option<PathBuf>,
    /// A passphrase, instead of recipients; use `${VAR}`, never a literal.
    pub passphrase: Option<Secret>,
}
