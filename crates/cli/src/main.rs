//! # lifeboat
//!
//! The `lifeboat` binary: a thin command line over the lifeboat crates. It reads
//! `lifeboat.toml` (DESIGN.md section 3), runs one verb (`init`, `keygen`, `check`, `backup`,
//! `list`, `restore`, `verify`) and exits with the codes of DESIGN.md section 5.
//!
//! ```text
//! lifeboat --config examples/quickstart/lifeboat.toml backup
//! lifeboat --config examples/quickstart/lifeboat.toml list --json
//! ```

mod cli;
mod commands;
mod config;
mod daemon;
mod exit;
mod keys;
mod locking;
mod logging;
mod metrics;
mod notify;
mod output;
mod progress;
mod registry;
mod storage;

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
            eprintln!("error: {}", err.message());
            err.exit.into()
        }
    }
}
