//! `lifeboat init`: a commented example config.

use std::io::Write;
use std::path::Path;

use crate::exit::{CliError, Exit};

const TEMPLATE: &str = include_str!("../../templates/lifeboat.toml");

/// Writes the template to `path`; refuses to overwrite.
pub fn run(path: &Path) -> Result<Exit, CliError> {
    let shown = path.display().to_string();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::ConfigExists {
                path: shown.clone(),
            },
            _ => CliError::Write {
                path: shown.clone(),
                error,
            },
        })?;
    file.write_all(TEMPLATE.as_bytes())
        .map_err(|error| CliError::Write {
            path: shown.clone(),
            error,
        })?;
    crate::output::print(format_args!("wrote {shown}"));
    eprintln!("next: edit it, run `lifeboat keygen` for encryption, then `lifeboat check`");
    Ok(Exit::Success)
}
