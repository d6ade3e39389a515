//! `[[sources]]` entries: the keys every source has, then the options of its kind.

use std::path::{Path, PathBuf};

use backup_core::retention::{KeepOptions, KeepWithin};
use serde::Deserialize;

use super::{options, resolve_path};

/// When a source's retention is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PruneWhen {
    /// Only by `lifeboat prune` (the default).
    #[default]
    Manual,
    /// Also right after each successful `lifeboat backup` of the source.
    AfterBackup,
}

/// Keys every `[[sources]]` table has; the rest belongs to its kind.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RawSource {
    name: String,
    kind: String,
    #[serde(default)]
    storage: Vec<String>,
    schedule: Option<String>,
    retention: Option<KeepOptions>,
    #[serde(default)]
    prune: PruneWhen,
    max_age: Option<KeepWithin>,
    verify_schedule: Option<String>,
    #[serde(flatten)]
    options: toml::Table,
}

/// `kind = "sqlite"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteOptions {
    /// The database file.
    pub path: PathBuf,
}

/// `kind = "files"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesOptions {
    /// Files and folders to archive; each becomes a top-level entry named after itself.
    pub paths: Vec<PathBuf>,
    /// Glob patterns to leave out (matched against relative paths and file names).
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// What kind of store a source is, with its options.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// A SQLite database file.
    Sqlite(SqliteOptions),
    /// Config, cert and log files, as a tar stream.
    Files(FilesOptions),
    /// A PostgreSQL server's databases, through pg_dump.
    Postgres(store_postgres::PostgresOptions),
    /// A Redis server: RDB snapshot or logical dump.
    Redis(store_redis::RedisOptions),
    /// A RabbitMQ broker's definitions (and optionally its messages).
    Rabbitmq(store_rabbitmq::RabbitmqOptions),
}

/// Every kind this build knows, as written in the config.
const KINDS: [&str; 5] = ["sqlite", "files", "postgres", "redis", "rabbitmq"];

impl SourceKind {
    /// The kind's name as written in the config.
    pub fn name(&self) -> &str {
        match self {
            SourceKind::Sqlite(_) => "sqlite",
            SourceKind::Files(_) => "files",
            SourceKind::Postgres(_) => "postgres",
            SourceKind::Redis(_) => "redis",
            SourceKind::Rabbitmq(_) => "rabbitmq",
        }
    }
}

/// One validated source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Its unique name, `[a-z0-9_-]+`.
    pub name: String,
    /// Its kind and options.
    pub kind: SourceKind,
    /// The storages it goes to (default: the first storage).
    pub storage: Vec<String>,
    /// Cron schedule for `lifeboat daemon` (not used by this version yet).
    pub schedule: Option<String>,
    /// Retention policy for `lifeboat prune`; none keeps everything.
    pub retention: Option<KeepOptions>,
    /// Whether `backup` prunes the source after a success.
    pub prune: PruneWhen,
    /// How old the newest backup may be before `status` calls the source stale.
    pub max_age: Option<KeepWithin>,
    /// Cron schedule of restore drills (`verify` of the latest backup) in `lifeboat daemon`.
    pub verify_schedule: Option<String>,
    /// The line of its `[[sources]]` table.
    pub line: usize,
}

impl RawSource {
    /// Checks the kind's options before `${VAR}` expansion, so that an error message quotes
    /// the config as written and never a value taken from the environment (maybe a secret).
    pub(super) fn check_shape(&self) -> Result<(), String> {
        let context = |e: String| format!("source `{}` (kind {}): {e}", self.name, self.kind);
        match self.kind.as_str() {
            "sqlite" => options::<SqliteOptions>(self.options.clone()).map(drop),
            "files" => options::<FilesOptions>(self.options.clone()).map(drop),
            "postgres" => {
                options::<store_postgres::PostgresOptions>(self.options.clone()).map(drop)
            }
            "redis" => options::<store_redis::RedisOptions>(self.options.clone()).map(drop),
            "rabbitmq" => {
                options::<store_rabbitmq::RabbitmqOptions>(self.options.clone()).map(drop)
            }
            _ => Ok(()),
        }
        .map_err(context)
    }

    pub(super) fn resolve(
        self,
        base: &Path,
        default_storage: &str,
    ) -> Result<SourceConfig, String> {
        let name = self.name;
        if !backup_core::is_valid_source_name(&name) {
            return Err(format!(
                "source name `{name}` is not valid: use lowercase letters, digits, `_` and `-` \
                 ([a-z0-9_-]+)"
            ));
        }
        let context = |e: String| format!("source `{name}` (kind {}): {e}", self.kind);
        let kind = match self.kind.as_str() {
            "sqlite" => {
                let mut o: SqliteOptions = options(self.options).map_err(context)?;
                o.path = resolve_path(base, &o.path);
                SourceKind::Sqlite(o)
            }
            "files" => {
                let mut o: FilesOptions = options(self.options).map_err(context)?;
                if o.paths.is_empty() {
                    return Err(context("`paths` is empty".to_string()));
                }
                o.paths = o.paths.iter().map(|p| resolve_path(base, p)).collect();
                for pattern in &o.exclude {
                    globset::Glob::new(pattern)
                        .map_err(|e| context(format!("exclude pattern `{pattern}`: {e}")))?;
                }
                SourceKind::Files(o)
            }
            "postgres" => SourceKind::Postgres(options(self.options).map_err(context)?),
            "redis" => SourceKind::Redis(options(self.options).map_err(context)?),
            "rabbitmq" => SourceKind::Rabbitmq(options(self.options).map_err(context)?),
            other => {
                return Err(format!(
                    "source `{name}`: unknown kind `{other}` (expected {})",
                    KINDS.join(", ")
                ))
            }
        };
        if let Some(schedule) = &self.schedule {
            schedule.parse::<croner::Cron>().map_err(|e| {
                format!("source `{name}`: schedule `{schedule}` is not a cron pattern: {e}")
            })?;
        }
        if let Some(twice) = self
            .storage
            .iter()
            .enumerate()
            .find_map(|(i, s)| self.storage[..i].contains(s).then_some(s))
        {
            return Err(format!("source `{name}` names storage `{twice}` twice"));
        }
        let storage = if self.storage.is_empty() {
            vec![default_storage.to_string()]
        } else {
            self.storage
        };
        Ok(SourceConfig {
            name,
            kind,
            storage,
            schedule: self.schedule,
            retention: self.retention,
            prune: self.prune,
            max_age: self.max_age,
            verify_schedule: self.verify_schedule,
            line: 0,
        })
    }
}
