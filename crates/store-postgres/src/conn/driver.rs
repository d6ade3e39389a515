//! The task that drives one tokio-postgres connection until its client is dropped.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::ServerError;

/// Runs a connection's driver on a spawned task until the client is dropped; an error ending
/// it is logged (the client's next query reports it to the caller).
pub(super) fn spawn_driver<S, T>(server: String, connection: tokio_postgres::Connection<S, T>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(server = %server, "postgres connection ended: {}", ServerError(e));
        }
    });
}
