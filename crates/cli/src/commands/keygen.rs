//! `lifeboat keygen`: an age identity in a 0600 file; prints the public recipient.

use std::path::Path;

use crate::exit::{CliError, Exit};

/// Writes a new identity to `output` (refusing to overwrite) and prints its recipient.
pub fn run(output: &Path) -> Result<Exit, CliError> {
    let recipient = lifeboat::keys::generate_identity(output)?;
    crate::output::print(&recipient);
    eprintln!(
        "wrote the private key to {} (mode 0600): keep a copy offline, restores need it.\n\
         put the public key above in [encryption] recipients.",
        output.display()
    );
    Ok(Exit::Success)
}
