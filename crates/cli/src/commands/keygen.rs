//! `lifeboat keygen`: an age identity in a 0600 file; prints the public recipient.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use age::secrecy::ExposeSecret;

use crate::exit::{CliError, Exit};

/// Writes a new identity to `output` (refusing to overwrite) and prints its recipient.
pub fn run(output: &Path) -> Result<Exit, CliError> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(output)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::usage(format!(
                "{} already exists; keygen never overwrites a key (losing it loses every backup \
                 encrypted to it)",
                output.display()
            )),
            _ => CliError::failure(format!("cannot create {}: {e}", output.display())),
        })?;
    let body = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    file.write_all(body.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", output.display())))?;
    crate::output::print(&recipient);
    eprintln!(
        "wrote the private key to {} (mode 0600): keep a copy offline, restores need it.\n\
         put the public key above in [encryption] recipients.",
        output.display()
    );
    Ok(Exit::Success)
}
