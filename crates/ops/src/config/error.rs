//! [`ConfigError`]: a config file that cannot be used (exit 2).

use super::UnsetVariable;

/// A config that cannot be used; the CLI exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// Not valid TOML, an unknown key, a wrong type (the message carries the line).
    #[error("config {path}: {error}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's error, with line and column.
        #[source]
        error: Box<toml::de::Error>,
    },
    /// An unset `${VAR}`.
    #[error("config {path}: {error}")]
    Unset {
        /// The file.
        path: String,
        /// Which variable, in which key.
        #[source]
        error: UnsetVariable,
    },
    /// Valid TOML that does not make a valid config.
    #[error("config {path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: String,
        /// The line it concerns, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}
