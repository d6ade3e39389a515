//! `lifeboat init`: a commented example config.

use std::io::Write;
use std::path::Path;

use crate::exit::{CliError, Exit};

const TEMPLATE: &str = include_str!("../../templates/lifeboat.toml");

/// Writes the template to `path`; refuses to overwrite.
pub fn run(path: &Path) -> Result<Exit, CliError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::usage(format!(
                "{} already exists; lifeboat init never overwrites a config",
                path.display()
            )),
            _ => CliError::failure(format!("cannot create {}: {e}", path.display())),
        })?;
    file.write_all(TEMPLATE.as_bytes())
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
    crate::output::print(format_args!("wrote {}", path.display()));
    eprintln!("next: edit it, run `lifeboat keygen` for encryption, then `lifeboat check`");
    Ok(Exit::Success)
}
