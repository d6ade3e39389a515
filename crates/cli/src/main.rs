//! # lifeboat
//!
//! The `lifeboat` binary: a thin command line over the `lifeboat` library. It reads
//! `lifeboat.toml` (README, "Configuration"), runs one verb, renders its outcome (tables, or
//! `--json`) and exits with the codes of README, "Exit codes". The operations themselves live
//! in the library (ARCHITECTURE.md, "Crates and layers").
//!
//! ```text
//! lifeboat --config examples/quickstart/lifeboat.toml backup
//! lifeboat --config examples/quickstart/lifeboat.toml list --json
//! ```

mod cli;
mod commands;
mod daemon;
mod exit;
mod logging;
mod observer;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.log_format, cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return exit::Exit::Failure.into();
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("error: {}", lifeboat::describe(&err));
            err.exit().into()
        }
    }
}
