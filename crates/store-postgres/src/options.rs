//! [`PostgresOptions`]: the keys of a `kind = "postgres"` source in `lifeboat.toml`.

use std::path::PathBuf;

use serde::Deserialize;

/// The options of a `kind = "postgres"` source (the keys of its `[[sources]]` table).
///
/// ```toml
/// [[sources]]
/// name = "orders"
/// kind = "postgres"
/// url = "postgres://backup@db.internal:5432/orders"
/// password = "${ORDERS_DB_PASSWORD}"
/// format = "custom"
/// restore_jobs = 4
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresOptions {
    /// The server and database: `postgres://user[:password]@host[:port]/database`
    /// (`postgresql://` works too). TLS follows libpq's `?sslmode=`: `disable`, `allow` /
    /// `prefer` (the default: TLS when the server offers it, certificate not checked),
    /// `require` (TLS or fail; certificate not checked unless a root certificate is given, as
    /// in libpq), `verify-ca` (the chain must lead to a trusted root) and `verify-full` (chain
    /// and host name; what managed services such as RDS, Cloud SQL or Azure should use).
    /// `&sslrootcert=/path/ca.pem` (or `ssl_root_cert`) names the trusted root(s); without it
    /// the system's trust store is used. Without `sslmode` in the URL, `PGSSLMODE` (and
    /// `PGSSLROOTCERT`) of lifeboat's environment apply, like libpq. The in-process connection
    /// (rustls) and `pg_dump` / `pg_restore` / `psql` (given `PGSSLMODE` / `PGSSLROOTCERT` in
    /// their environment) check the same. The password is better given in `password`; either
    /// way it reaches the client tools only through their environment (`PGPASSWORD`), never
    /// their command line, and the URL is shown everywhere with its password removed.
    pub url: String,

    /// The password, instead of putting it in `url` (e.g. `"${ORDERS_DB_PASSWORD}"`).
    #[serde(default)]
    pub password: Option<String>,

    /// A PEM file of trusted root certificates for TLS (a private CA, or a self-signed server
    /// certificate), e.g. `"/etc/lifeboat/rds-ca.pem"`; the URL's `sslrootcert` wins. With it,
    /// `sslmode=require` also checks the certificate chain (libpq's behaviour). It applies to
    /// `restore --to` URLs too.
    #[serde(default)]
    pub ssl_root_cert: Option<PathBuf>,

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
    /// on `PATH`.
    #[serde(default)]
    pub bin_dir: Option<PathBuf>,

    /// The database used to create and drop databases (restore targets, drill scratch
    /// databases). Default `"postgres"`.
    #[serde(default = "default_maintenance_database")]
    pub maintenance_database: String,

    /// Seconds pg_dump waits for a table lock (`--lock-wait-timeout`) before failing the
    /// backup, instead of queueing forever behind a long `ALTER TABLE`. Default 300.
    #[serde(default = "default_lock_wait_timeout")]
    pub lock_wait_timeout_secs: u64,

    /// Seconds to wait for a connection before giving up. Default 10.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

/// The dump format of a source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// `pg_dump --format=custom -Z0` (restored with `pg_restore`).
    #[default]
    Custom,
    /// `pg_dump --format=plain` (a SQL script, restored with `psql`).
    Plain,
}

impl DumpFormat {
    /// The name used in configs and bundle headers.
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

fn default_lock_wait_timeout() -> u64 {
    300
}

fn default_connect_timeout() -> u64 {
    10
}

impl PostgresOptions {
    /// Options for `url` with every other key at its default.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            ssl_root_cert: None,
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
            lock_wait_timeout_secs: default_lock_wait_timeout(),
            connect_timeout_secs: default_connect_timeout(),
        }
    }
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &crate::conn::redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("format", &self.format)
            .field("schema_only", &self.schema_only)
            .field("tables", &self.tables)
            .field("exclude_tables", &self.exclude_tables)
            .field("databases", &self.databases)
            .field("globals", &self.globals)
            .field("restore_globals", &self.restore_globals)
            .field("restore_jobs", &self.restore_jobs)
            .field("no_owner", &self.no_owner)
            .field("bin_dir", &self.bin_dir)
            .field("maintenance_database", &self.maintenance_database)
            .field("lock_wait_timeout_secs", &self.lock_wait_timeout_secs)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .finish()
    }
}
