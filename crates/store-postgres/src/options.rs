//! [`PostgresOptions`]: the keys of a `kind = "postgres"` source in `lifeboat.toml`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use lifeboat_edge::deprecation::renamed;
use lifeboat_edge::{HumanDuration, Secret, SecretUrl};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::conn::ConnInfo;
use crate::error::PostgresError;

/// The options of a `kind = "postgres"` source (the keys of its `[[sources]]` table).
///
/// ```toml
/// [[sources]]
/// name = "orders"
/// kind = "postgres"
/// url = "postgres://backup@db.internal:5432/orders?sslmode=verify-full"
/// password = "${ORDERS_DB_PASSWORD}"
/// format = "custom"
/// restore_jobs = 4
/// lock_wait_timeout = "5min"
/// ```
///
/// Library users start from [`PostgresOptions::from_url`] and set the fields they need.
#[derive(Debug, Clone, Deserialize)]
// `remote = "Self"`: the derived deserializer becomes `PostgresOptions::deserialize`, which
// the `Deserialize` impl below calls once the deprecated key names are read.
#[serde(remote = "Self", deny_unknown_fields)]
pub struct PostgresOptions {
    /// The server and database: `postgres://user[:password]@host[:port]/database`
    /// (`postgresql://` works too). TLS follows libpq's `?sslmode=`: `disable`, `allow` /
    /// `prefer` (the default: TLS when the server offers it, certificate not checked),
    /// `require` (TLS or fail; certificate not checked unless a root certificate is given, as
    /// in libpq), `verify-ca` (the chain must lead to a trusted root) and `verify-full` (chain
    /// and host name; what managed services such as RDS, Cloud SQL or Azure should use).
    /// `&sslrootcert=/path/ca.pem` (or `tls_ca_file`) names the trusted root(s); without it
    /// the system's trust store is used. Without `sslmode` in the URL, `PGSSLMODE` (and
    /// `PGSSLROOTCERT`) of lifeboat's environment apply, like libpq. The in-process connection
    /// (rustls) and `pg_dump` / `pg_restore` / `psql` (given `PGSSLMODE` / `PGSSLROOTCERT` in
    /// their environment) check the same. The password is better given in `password`; either
    /// way it reaches the client tools only through their environment (`PGPASSWORD`), never
    /// their command line, and the URL is shown everywhere with its password removed.
    pub url: SecretUrl,

    /// The password, instead of putting it in `url` (e.g. `"${ORDERS_DB_PASSWORD}"`).
    #[serde(default)]
    pub password: Option<Secret>,

    /// A PEM file of trusted root certificates for TLS (a private CA, or a self-signed server
    /// certificate), e.g. `"/etc/lifeboat/rds-ca.pem"`; the URL's `sslrootcert` wins. With it,
    /// `sslmode=require` also checks the certificate chain (libpq's behaviour). It applies to
    /// `restore --to` URLs too. A relative path is relative to the config file's folder.
    /// Formerly `ssl_root_cert` (still read, with a deprecation warning, for one release).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,

    /// The dump format: `"custom"` (default; `pg_dump -Fc -Z0`, lifeboat compresses) or
    /// `"plain"` (a SQL script, restored with `psql`).
    #[serde(default)]
    pub format: DumpFormat,

    /// Dump only the schema, no data (`pg_dump --schema-only`).
    #[serde(default)]
    pub schema_only: bool,

    /// Dump only these tables: `pg_dump -t` patterns (`"public.orders"`, `"audit.*"`). The
    /// patterns are resolved once, in the backup's snapshot, and pg_dump gets the exact list,
    /// so the row counts in the manifest cover exactly the dumped tables.
    #[serde(default)]
    pub tables: Vec<String>,

    /// Leave these tables out: `pg_dump -T` patterns, resolved like `tables`.
    #[serde(default)]
    pub exclude_tables: Vec<String>,

    /// Several databases of the same server in one backup (default: the URL's database). With
    /// more than one database, or with `globals`, the artifact is a `pg_dump-bundle`.
    #[serde(default)]
    pub databases: Vec<String>,

    /// Also dump roles and tablespaces (`pg_dumpall --globals-only`) into the bundle. They are
    /// restored only with `restore_globals = true`.
    #[serde(default)]
    pub globals: bool,

    /// Run the globals script of a bundle on restore (`psql`, errors such as "role already
    /// exists" are reported as warnings rather than failing the restore). Default false.
    #[serde(default)]
    pub restore_globals: bool,

    /// Parallel restore jobs for the custom format (`pg_restore -j N`). With more than 1, the
    /// dump is first staged into a temporary file (pg_restore needs a seekable file for `-j`)
    /// and restored without `--single-transaction`. Only a database the restore (or drill)
    /// creates is restored in parallel — it is dropped again if anything fails; into a
    /// database that already exists (empty, or `--force`) the restore streams in one
    /// transaction, so a failure leaves it unchanged. Default 1: streamed, one transaction.
    #[serde(default = "default_restore_jobs")]
    pub restore_jobs: u32,

    /// Restore without setting object owners (`--no-owner`): everything is owned by the
    /// restoring user.
    #[serde(default)]
    pub no_owner: bool,

    /// Folder holding `pg_dump`, `pg_dumpall`, `pg_restore` and `psql` (default: found on
    /// `PATH`), e.g. `"/usr/lib/postgresql/16/bin"` when the server is newer than the client
    /// on `PATH`. A relative path is relative to the config file's folder.
    #[serde(default)]
    pub bin_dir: Option<PathBuf>,

    /// The database used to create and drop databases (restore targets, drill scratch
    /// databases). Default `"postgres"`.
    #[serde(default = "default_maintenance_database")]
    pub maintenance_database: String,

    /// How long pg_dump waits for a table lock (`--lock-wait-timeout`) before failing the
    /// backup, instead of queueing forever behind a long `ALTER TABLE`: a duration such as
    /// `"90s"` or `"10min"` (at least one second). Default `"5min"`. Formerly
    /// `lock_wait_timeout_secs`, in seconds (still read, with a deprecation warning, for one
    /// release).
    #[serde(default = "default_lock_wait_timeout")]
    pub lock_wait_timeout: HumanDuration,

    /// How long to wait for a connection (lifeboat's own and the client tools') before giving
    /// up, e.g. `"30s"` (at least one second). Default `"10s"`. Formerly
    /// `connect_timeout_secs`, in seconds (still read, with a deprecation warning, for one
    /// release).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,

    /// The longest a dump may go without a byte from `pg_dump` (or `pg_dumpall`) before the
    /// backup is given up, e.g. `"10min"` (at least one second). Default `"30min"`, like
    /// pgBackRest's `db-timeout`: a scan of a large table with few live rows can be silent
    /// for minutes; a server that stopped answering is silent for ever.
    #[serde(default = "default_io_timeout")]
    pub io_timeout: HumanDuration,
}

/// The dump format of a source, and of each database's dump in a bundle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// `pg_dump --format=custom -Z0` (restored with `pg_restore`).
    #[default]
    Custom,
    /// `pg_dump --format=plain` (a SQL script, restored with `psql`).
    Plain,
}

impl DumpFormat {
    /// The name used in configs, manifests and bundle headers.
    pub fn as_str(self) -> &'static str {
        match self {
            DumpFormat::Custom => "custom",
            DumpFormat::Plain => "plain",
        }
    }

    /// Parses [`DumpFormat::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "custom" => Some(DumpFormat::Custom),
            "plain" => Some(DumpFormat::Plain),
            _ => None,
        }
    }
}

fn default_restore_jobs() -> u32 {
    1
}

fn default_maintenance_database() -> String {
    "postgres".to_string()
}

fn default_lock_wait_timeout() -> HumanDuration {
    HumanDuration::from_mins(5)
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

fn default_io_timeout() -> HumanDuration {
    HumanDuration::from_mins(30)
}

impl PostgresOptions {
    /// Options for `url` with every other key at its default.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: SecretUrl::new(url),
            password: None,
            tls_ca_file: None,
            format: DumpFormat::Custom,
            schema_only: false,
            tables: Vec::new(),
            exclude_tables: Vec::new(),
            databases: Vec::new(),
            globals: false,
            restore_globals: false,
            restore_jobs: default_restore_jobs(),
            no_owner: false,
            bin_dir: None,
            maintenance_database: default_maintenance_database(),
            lock_wait_timeout: default_lock_wait_timeout(),
            connect_timeout: default_connect_timeout(),
            io_timeout: default_io_timeout(),
        }
    }

    /// Checks the options without any I/O: the URL, `restore_jobs`, `databases`, `tables`.
    /// The store's `resolve` runs it when the config is loaded, so a bad option is a config
    /// error there; the source, target and drill constructors run it for library users.
    pub fn validate(&self) -> Result<(), PostgresError> {
        self.conn()?;
        let bad = |option, reason: &str| PostgresError::BadOption {
            option,
            reason: reason.to_string(),
        };
        if self.restore_jobs == 0 {
            return Err(bad("restore_jobs", "must be at least 1"));
        }
        if self.io_timeout.as_std() < std::time::Duration::from_secs(1) {
            return Err(bad("io_timeout", "must be at least one second"));
        }
        if self.restore_jobs > 1 && self.format == DumpFormat::Plain {
            return Err(bad(
                "restore_jobs",
                "parallel restore needs format = \"custom\"",
            ));
        }
        if self.databases.iter().any(|d| d.is_empty()) {
            return Err(bad("databases", "a database name is empty"));
        }
        let mut seen = BTreeSet::new();
        if let Some(dup) = self.databases.iter().find(|d| !seen.insert(*d)) {
            return Err(bad("databases", &format!("`{dup}` is listed twice")));
        }
        if self
            .tables
            .iter()
            .chain(&self.exclude_tables)
            .any(|p| p.trim().is_empty())
        {
            return Err(bad("tables", "a table pattern is empty"));
        }
        Ok(())
    }

    /// The connection these options describe (no I/O).
    pub(crate) fn conn(&self) -> Result<ConnInfo, PostgresError> {
        ConnInfo::parse(
            self.url.expose(),
            self.password.as_ref(),
            self.tls_ca_file.as_deref(),
            self.connect_timeout.as_std(),
        )
        .map(|conn| conn.with_io_timeout(self.io_timeout.as_std()))
    }
}

impl<'de> Deserialize<'de> for PostgresOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut keys = serde_json::Map::deserialize(deserializer)?;
        read_renamed_keys(&mut keys).map_err(D::Error::custom)?;
        PostgresOptions::deserialize(serde_json::Value::Object(keys)).map_err(D::Error::custom)
    }
}

/// A deprecated key of a source's table that cannot be read.
#[derive(Debug, thiserror::Error)]
enum RenamedKeyError {
    /// Set under both its old and its new name.
    #[error(transparent)]
    Both(#[from] lifeboat_edge::deprecation::BothNames),
    /// The old key's value has the wrong type.
    #[error("`{key}`: {source}")]
    Value {
        /// The old key.
        key: &'static str,
        /// Why its value does not read.
        #[source]
        source: serde_json::Error,
    },
}

/// Moves the values of the keys renamed in this release to their new names, with a
/// deprecation warning; a key set under both names is an error.
fn read_renamed_keys(
    keys: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), RenamedKeyError> {
    let seconds = |key: &'static str, keys: &mut serde_json::Map<_, _>| {
        keys.remove(key)
            .map(|value| {
                u64::deserialize(value).map_err(|source| RenamedKeyError::Value { key, source })
            })
            .transpose()
    };
    for (old, new) in [
        ("lock_wait_timeout_secs", "lock_wait_timeout"),
        ("connect_timeout_secs", "connect_timeout"),
    ] {
        let old_value = seconds(old, keys)?;
        let new_value = keys.remove(new);
        let value = renamed(old, old_value, new, new_value, |secs| {
            serde_json::Value::String(HumanDuration::from_secs(secs).to_string())
        })?;
        if let Some(value) = value {
            keys.insert(new.to_string(), value);
        }
    }
    let (old, new) = ("ssl_root_cert", "tls_ca_file");
    let value = renamed(old, keys.remove(old), new, keys.remove(new), |path| path)?;
    if let Some(value) = value {
        keys.insert(new.to_string(), value);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<PostgresOptions, toml::de::Error> {
        toml::from_str(&format!("url = \"postgres://u@h/db\"\n{text}"))
    }

    #[test]
    fn durations_and_the_ca_file_read_under_their_new_names() {
        let options = read(
            "lock_wait_timeout = \"90s\"\nconnect_timeout = \"1min\"\ntls_ca_file = \"/ca.pem\"",
        )
        .unwrap();
        assert_eq!(options.lock_wait_timeout, HumanDuration::from_secs(90));
        assert_eq!(options.connect_timeout, HumanDuration::from_secs(60));
        assert_eq!(options.tls_ca_file, Some(PathBuf::from("/ca.pem")));
        let defaults = read("").unwrap();
        assert_eq!(defaults.lock_wait_timeout, HumanDuration::from_secs(300));
        assert_eq!(defaults.connect_timeout, HumanDuration::from_secs(10));
        let err = read("lock_wait_timeout = \"5m\"").unwrap_err().to_string();
        assert!(err.contains("ambiguous"), "{err}");
    }

    #[test]
    fn the_old_names_still_read_and_both_names_are_an_error() {
        let options = read(
            "lock_wait_timeout_secs = 120\nconnect_timeout_secs = 3\nssl_root_cert = \"/old.pem\"",
        )
        .unwrap();
        assert_eq!(options.lock_wait_timeout, HumanDuration::from_secs(120));
        assert_eq!(options.connect_timeout, HumanDuration::from_secs(3));
        assert_eq!(options.tls_ca_file, Some(PathBuf::from("/old.pem")));
        for both in [
            "lock_wait_timeout_secs = 1\nlock_wait_timeout = \"1s\"",
            "connect_timeout_secs = 1\nconnect_timeout = \"1s\"",
            "ssl_root_cert = \"/a.pem\"\ntls_ca_file = \"/b.pem\"",
        ] {
            let err = read(both).unwrap_err().to_string();
            assert!(err.contains("is the old name of"), "{err}");
        }
        let err = read("lock_wait_timeout_secs = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lock_wait_timeout_secs"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_and_secrets_never_shown() {
        let err = read("sslrootcert = \"/ca.pem\"").unwrap_err().to_string();
        assert!(err.contains("unknown field `sslrootcert`"), "{err}");
        let options: PostgresOptions = toml::from_str(
            "url = \"postgres://bob:hunter2@h/db?password=hunter2\"\npassword = \"hunter3\"",
        )
        .unwrap();
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        assert_eq!(options.password.unwrap().expose(), "hunter3");
    }

    #[test]
    fn validation_needs_no_server() {
        let mut options = PostgresOptions::from_url("postgres://u@h/db");
        assert!(options.validate().is_ok());
        options.restore_jobs = 0;
        assert!(options.validate().is_err());
        options.restore_jobs = 2;
        options.format = DumpFormat::Plain;
        assert!(options.validate().is_err());
        let mut options = PostgresOptions::from_url("postgres://u@h/db");
        options.databases = vec!["a".into(), "a".into()];
        let err = options.validate().unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
        let options = PostgresOptions::from_url("mysql://u:hunter2@h/db");
        let err = options.validate().unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
