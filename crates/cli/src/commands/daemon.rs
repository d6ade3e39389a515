//! `lifeboat daemon [--listen ADDR]`: see [`crate::daemon`].

use std::net::SocketAddr;
use std::path::Path;

use crate::exit::{CliError, Exit};

/// Runs the scheduler until SIGTERM/SIGINT.
pub async fn run(config: &Path, listen: Option<SocketAddr>) -> Result<Exit, CliError> {
    crate::daemon::run(config, listen).await
}
