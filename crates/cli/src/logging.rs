//! tracing on stderr: text or JSON; `LIFEBOAT_LOG` overrides the level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// The crates whose logs follow `-v`/`-q`; every other crate logs warnings only.
const OUR_CRATES: [&str; 9] = [
    "lifeboat_edge",
    "lifeboat",
    "backup_core",
    "lifeboat_sinks",
    "store_sqlite",
    "store_files",
    "store_postgres",
    "store_redis",
    "store_rabbitmq",
];

/// Installs the global subscriber.
pub fn init(format: LogFormat, verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("LIFEBOAT_LOG").unwrap_or_else(|_| {
        let ours = OUR_CRATES.map(|krate| format!(",{krate}={level}")).concat();
        // The clients' own chatter (fred warns when it quits a client whose connection
        // failed; lapin logs every connection error it also returns) says nothing our
        // errors don't.
        EnvFilter::new(format!("warn,fred=error,lapin=error{ours}"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
