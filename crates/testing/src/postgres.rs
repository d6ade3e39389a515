//! Throw-away databases on the test PostgreSQL server (`127.0.0.1:5432`, user `root`, trust
//! auth), through `psql` so that synchronous tests (the CLI's) and async ones (the store's)
//! share them: a unique name per test, dropped again when the [`TestDb`] is dropped.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The test server's host.
pub const HOST: &str = "127.0.0.1";

/// The test server, as a URL without a database.
pub const SERVER: &str = "postgres://root@127.0.0.1:5432";

/// Runs `sql` with psql as root on `database`: its stdout (tuples only, trimmed), or psql's
/// stderr when it fails (`ON_ERROR_STOP`).
pub fn try_psql(database: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            HOST,
            "-U",
            "root",
            "-d",
        ])
        .arg(database)
        .arg("-c")
        .arg(sql)
        .output()
        .map_err(|err| format!("cannot run psql: {err}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// [`try_psql`], panicking when it fails.
pub fn psql(database: &str, sql: &str) -> String {
    try_psql(database, sql).unwrap_or_else(|err| panic!("psql failed: {err}"))
}

/// Whether the server answers; when it does not, a skip notice — or, under
/// `LIFEBOAT_REQUIRE_SERVICES=1`, a panic ([`crate::service_unavailable`]).
pub fn server_up() -> bool {
    match try_psql("postgres", "select 1") {
        Ok(_) => true,
        Err(err) => {
            crate::service_unavailable(format_args!(
                "PostgreSQL at {HOST}:5432 unreachable ({})",
                err.trim()
            ));
            false
        }
    }
}

/// A database name no other test (of this process or another) uses: `lbt_<prefix>_<pid>_<n>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "lbt_{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Whether database `name` exists.
pub fn database_exists(name: &str) -> bool {
    let sql = format!(
        "SELECT count(*) FROM pg_database WHERE datname = '{}'",
        name.replace('\'', "''")
    );
    psql("postgres", &sql) == "1"
}

/// Drops database `name` if it exists, disconnecting its sessions (errors ignored: this runs
/// in `Drop`).
pub fn drop_database(name: &str) {
    let _ = try_psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    );
}

/// A database for one test, dropped (if it exists) when this is dropped.
///
/// ```no_run
/// use lifeboat_testing::postgres::TestDb;
///
/// let Some(db) = TestDb::create("example") else { return };
/// db.psql("CREATE TABLE t(id int); INSERT INTO t VALUES (1);");
/// assert_eq!(db.psql("SELECT count(*) FROM t"), "1");
/// ```
#[derive(Debug)]
pub struct TestDb {
    /// Its name.
    pub name: String,
}

impl TestDb {
    /// A unique name for `prefix`; the database is not created (a restore will create it).
    pub fn named(prefix: &str) -> TestDb {
        TestDb {
            name: unique_name(prefix),
        }
    }

    /// Creates an empty database, or `None` (skip, or a panic under
    /// `LIFEBOAT_REQUIRE_SERVICES=1`) when the server is unreachable.
    pub fn create(prefix: &str) -> Option<TestDb> {
        if !server_up() {
            return None;
        }
        let db = TestDb::named(prefix);
        psql("postgres", &format!("CREATE DATABASE \"{}\"", db.name));
        Some(db)
    }

    /// `postgres://root@127.0.0.1:5432/<name>`.
    pub fn url(&self) -> String {
        format!("{SERVER}/{}", self.name)
    }

    /// Runs `sql` on this database ([`psql`]).
    pub fn psql(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }

    /// Whether the database exists.
    pub fn exists(&self) -> bool {
        database_exists(&self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop_database(&self.name);
    }
}
