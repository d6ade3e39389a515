//! The command line (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// lifeboat: back up, verify and restore the data stores behind web services.
#[derive(Debug, Parser)]
#[command(name = "lifeboat", version, about, long_about = None)]
pub struct Cli {
    /// The config file.
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_CONFIG",
        default_value = "lifeboat.toml"
    )]
    pub config: PathBuf,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More logs (-v debug, -vv trace); `LIFEBOAT_LOG` (e.g. `lifeboat=debug`) overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors in the logs.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for services).
    Json,
}

/// The verbs (README, "Commands").
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented example config (refuses to overwrite).
    Init,
    /// Make an age identity (file 0600) and print its public recipient.
    Keygen {
        /// Where to write the identity.
        #[arg(long, short, default_value = "lifeboat-key.txt")]
        output: PathBuf,
    },
    /// Validate the config and reach every source and storage.
    Check,
    /// Back up all sources, or the named ones.
    Backup {
        /// Sources to back up (default: all).
        names: Vec<String>,
        /// Also write the run's metrics (Prometheus text) to this file, atomically, for the
        /// node exporter's textfile collector.
        #[arg(long, value_name = "PATH")]
        metrics_file: Option<PathBuf>,
    },
    /// List the backups found in storage.
    List {
        /// Only this source.
        name: Option<String>,
        /// Only this storage.
        #[arg(long)]
        storage: Option<String>,
        /// Machine-readable output (see README for the schema).
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup.
    Restore {
        /// The source whose backup to restore.
        name: String,
        /// Backup id, or `latest`.
        #[arg(long, default_value = "latest")]
        id: String,
        /// Restore somewhere else: a path (sqlite file, files directory, redis `dump.rdb`) or a
        /// server URL (`postgres://…/otherdb`, `redis://…/2`, `http://…:15672`).
        #[arg(long, value_name = "URL|PATH")]
        to: Option<String>,
        /// Overwrite a target that holds data.
        #[arg(long)]
        force: bool,
        /// Change nothing: read and check the backup, and say what the restore would do
        /// (for RabbitMQ: the definitions that would be created, exist, or conflict).
        #[arg(long)]
        dry_run: bool,
        /// Only this storage.
        #[arg(long)]
        storage: Option<String>,
    },
    /// Apply each source's retention: remove the backups no rule keeps, and leftovers of
    /// failed runs older than `[prune] leftover_grace` (default a day); print the bytes freed.
    Prune {
        /// Only this source (default: all).
        name: Option<String>,
        /// Print the plan (keep/remove and why), remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this storage.
        #[arg(long)]
        storage: Option<String>,
        /// Machine-readable output (see README).
        #[arg(long)]
        json: bool,
    },
    /// Run the schedules (backups, restore drills); serve /metrics, /healthz, /readyz.
    Daemon {
        /// Address to serve on (default `[daemon] listen`, 127.0.0.1:9898).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Health per source: newest backup's age, size anomaly, last verify; exit 4 if unhealthy.
    Status {
        /// Only this source (default: all).
        name: Option<String>,
        /// Machine-readable output (see README).
        #[arg(long)]
        json: bool,
    },
    /// Re-read backups: both sha256, decryption, decompression, format check.
    Verify {
        /// Only this source (default: all).
        name: Option<String>,
        /// Backup id (default: the latest of each source).
        #[arg(long)]
        id: Option<String>,
        /// Restore into a scratch target and compare counts with the manifest.
        #[arg(long)]
        deep: bool,
        /// Only this storage.
        #[arg(long)]
        storage: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}
