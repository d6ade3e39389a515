//! One module per verb.

mod backup;
mod check;
mod daemon;
mod init;
mod keygen;
mod list;
mod prune;
mod restore;
mod status;
mod verify;

use backup_core::catalog::Selector;

pub(crate) use backup::{backup_one, event_of};
pub(crate) use verify::verify_source;

use crate::cli::{Cli, Command};
use crate::config::{Config, SourceConfig};
use crate::exit::{CliError, Exit};

/// Runs the command line's verb.
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    match cli.command {
        Command::Init => init::run(&cli.config),
        Command::Keygen { output } => keygen::run(&output),
        Command::Check => check::run(&load(&cli)?).await,
        Command::Backup {
            ref names,
            ref metrics_file,
        } => backup::run(&load(&cli)?, names, metrics_file.as_deref()).await,
        Command::List {
            ref name,
            ref storage,
            json,
        } => list::run(&load(&cli)?, name.as_deref(), storage.as_deref(), json).await,
        Command::Restore {
            ref name,
            ref id,
            ref to,
            force,
            dry_run,
            ref storage,
        } => {
            let args = restore::Args {
                name,
                selector: selector(id)?,
                to: to.as_deref(),
                force,
                dry_run,
                storage: storage.as_deref(),
            };
            restore::run(&load(&cli)?, args).await
        }
        Command::Prune {
            ref name,
            dry_run,
            ref storage,
        } => {
            let args = prune::Args {
                name: name.as_deref(),
                dry_run,
                storage: storage.as_deref(),
            };
            prune::run(&load(&cli)?, args).await
        }
        Command::Daemon { listen } => daemon::run(&cli.config, listen).await,
        Command::Status { ref name, json } => {
            status::run(&load(&cli)?, name.as_deref(), json).await
        }
        Command::Verify {
            ref name,
            ref id,
            deep,
            ref storage,
            json,
        } => {
            let args = verify::Args {
                name: name.as_deref(),
                selector: id
                    .as_deref()
                    .map(selector)
                    .transpose()?
                    .unwrap_or(Selector::Latest),
                deep,
                storage: storage.as_deref(),
                json,
            };
            verify::run(&load(&cli)?, args).await
        }
    }
}

fn load(cli: &Cli) -> Result<Config, CliError> {
    Ok(Config::load(&cli.config)?)
}

fn selector(id: &str) -> Result<Selector, CliError> {
    if id == "latest" {
        return Ok(Selector::Latest);
    }
    id.parse()
        .map(Selector::Id)
        .map_err(|e| CliError::usage(format!("--id: {e}")))
}

/// The sources a command acts on: the named ones (each must exist), or all.
fn select_sources<'a>(
    config: &'a Config,
    names: &[String],
) -> Result<Vec<&'a SourceConfig>, CliError> {
    if names.is_empty() {
        return Ok(config.sources.iter().collect());
    }
    let mut selected: Vec<&SourceConfig> = Vec::new();
    for name in names {
        let source = find_source(config, name)?;
        if !selected.iter().any(|s| s.name == source.name) {
            selected.push(source);
        }
    }
    Ok(selected)
}

fn find_source<'a>(config: &'a Config, name: &str) -> Result<&'a SourceConfig, CliError> {
    config.source(name).ok_or_else(|| {
        CliError::usage(format!(
            "no source named `{name}` in {} (defined: {})",
            config.path.display(),
            config
                .sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}
