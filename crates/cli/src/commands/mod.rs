//! One module per verb: each calls one operation of the library, renders its outcome and
//! picks the exit code.

mod backup;
mod check;
mod init;
mod keygen;
mod list;
mod prune;
mod restore;
mod status;
mod verify;

use std::sync::Arc;

use lifeboat::{Config, Lifeboat, Selector};

use crate::cli::{Cli, Command};
use crate::exit::{CliError, Exit};
use crate::observer::Terminal;

/// Runs the command line's verb.
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    match &cli.command {
        Command::Init => init::run(&cli.config),
        Command::Keygen { output } => keygen::run(output),
        Command::Check => check::run(&load(&cli)?).await,
        Command::Backup {
            names,
            metrics_file,
        } => backup::run(&load(&cli)?, names, metrics_file.as_deref()).await,
        Command::List {
            name,
            storage,
            json,
        } => list::run(&load(&cli)?, name.as_deref(), storage.as_deref(), *json).await,
        Command::Restore {
            name,
            id,
            to,
            force,
            dry_run,
            storage,
        } => {
            let request = lifeboat::RestoreRequest {
                source: name,
                selector: selector(id)?,
                to: to.as_deref(),
                force: *force,
                dry_run: *dry_run,
                storage: storage.as_deref(),
            };
            restore::run(&load(&cli)?, &request).await
        }
        Command::Prune {
            name,
            dry_run,
            storage,
            json,
        } => {
            let request = lifeboat::PruneRequest {
                source: name.as_deref(),
                dry_run: *dry_run,
                storage: storage.as_deref(),
            };
            prune::run(&load(&cli)?, &request, *json).await
        }
        Command::Daemon { listen } => crate::daemon::run(&cli.config, *listen).await,
        Command::Status { name, json } => status::run(&load(&cli)?, name.as_deref(), *json).await,
        Command::Verify {
            name,
            id,
            deep,
            storage,
            json,
        } => {
            let request = lifeboat::VerifyRequest {
                source: name.as_deref(),
                selector: id
                    .as_deref()
                    .map(selector)
                    .transpose()?
                    .unwrap_or(Selector::Latest),
                deep: *deep,
                storage: storage.as_deref(),
            };
            verify::run(&load(&cli)?, &request, *json).await
        }
    }
}

/// The config of `cli`, with the terminal's progress bars and warnings.
fn load(cli: &Cli) -> Result<Lifeboat, CliError> {
    let config = Config::load(&cli.config)?;
    Ok(Lifeboat::new(config).with_observer(Arc::new(Terminal)))
}

fn selector(id: &str) -> Result<Selector, CliError> {
    if id == "latest" {
        return Ok(Selector::Latest);
    }
    id.parse().map(Selector::Id).map_err(CliError::BadId)
}

/// Prints `value` as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(CliError::Json)?;
    crate::output::print(&text);
    Ok(())
}
