//! [`Progress`]: how pipelines report bytes moved (the CLI draws a bar from it).

/// Receives the number of bytes each stage moved; called often, so keep it cheap.
pub trait Progress: Send + Sync {
    /// `bytes` more bytes went through.
    fn advance(&self, bytes: u64);
}
