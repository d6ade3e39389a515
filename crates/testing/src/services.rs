//! The rule for tests that need a real server (PostgreSQL, Redis, RabbitMQ, an S3 server):
//! when it is unreachable they are skipped with a printed notice, unless
//! `LIFEBOAT_REQUIRE_SERVICES=1` (CI), where an unreachable server is a failure.

use std::fmt::Display;

/// The environment variable that turns an unreachable server into a test failure.
pub const REQUIRE_SERVICES_VAR: &str = "LIFEBOAT_REQUIRE_SERVICES";

/// Whether `LIFEBOAT_REQUIRE_SERVICES=1`: unreachable servers fail tests instead of skipping
/// them.
pub fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES_VAR).as_deref() == Ok("1")
}

/// Reports that a test's server is unavailable (`what` says which and why): panics when
/// [`services_required`], otherwise prints `skipping: {what}` to stderr. The caller then
/// returns from the test.
///
/// ```
/// # fn connect() -> Result<(), std::io::Error> { Ok(()) }
/// if let Err(err) = connect() {
///     lifeboat_testing::service_unavailable(format_args!("Redis at 127.0.0.1:6379 unreachable ({err})"));
///     return;
/// }
/// ```
pub fn service_unavailable(what: impl Display) {
    if services_required() {
        panic!("{what}, and {REQUIRE_SERVICES_VAR}=1");
    }
    eprintln!("skipping: {what}");
}
