//! AMQP connections (lapin) for reading and republishing messages, and their errors, scrubbed
//! of the password.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties};
use lifeboat_edge::Scrubbed;

use crate::endpoint::AmqpEndpoint;
use crate::error::{RabbitmqError, Step};

/// A connection to `vhost`, named so operators see who holds it in the management UI.
pub(crate) async fn connect(
    endpoint: &AmqpEndpoint,
    vhost: &str,
    step: Step,
) -> Result<Connection, RabbitmqError> {
    let uri = AMQPUri {
        scheme: AMQPScheme::AMQP,
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo {
                username: endpoint.username.clone(),
                password: endpoint.password.expose().to_string(),
            },
            host: endpoint.host.clone(),
            port: endpoint.port,
        },
        vhost: vhost.to_string(),
        query: AMQPQueryString {
            connection_timeout: Some(10_000),
            ..AMQPQueryString::default()
        },
    };
    let mut properties = ConnectionProperties::default();
    properties.client_properties.insert(
        "connection_name".into(),
        lapin::types::AMQPValue::LongString("lifeboat".into()),
    );
    reply(Connection::connect_uri(uri, properties))
        .await
        .map_err(|e| amqp_error(endpoint, vhost, step, "connect", e))
}

/// How long one AMQP round trip (connect, declare, publish confirm, commit, close...) may
/// take. lapin sends heartbeats but never notices a broker that stopped answering, so a
/// frozen broker (or a stalled proxy) would otherwise hang the backup or restore for ever.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Waits for `request`'s reply for at most [`REPLY_TIMEOUT`]; a timeout is an I/O error of
/// kind `TimedOut`, reported like any other AMQP failure.
pub(crate) async fn reply<T>(
    request: impl std::future::Future<Output = lapin::Result<T>>,
) -> lapin::Result<T> {
    reply_within(REPLY_TIMEOUT, request).await
}

/// [`reply`] with another limit.
pub(crate) async fn reply_within<T>(
    limit: Duration,
    request: impl std::future::Future<Output = lapin::Result<T>>,
) -> lapin::Result<T> {
    match tokio::time::timeout(limit, request).await {
        Ok(result) => result,
        Err(_) => Err(lapin::Error::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no reply from the broker within {limit:?}"),
        ))),
    }
}

/// `queue.declare(passive)`: whether `queue` exists, with its message and consumer counts. A
/// failure closes the channel (the broker's doing).
pub(crate) async fn passive_declare(channel: &Channel, queue: &str) -> lapin::Result<lapin::Queue> {
    reply(channel.queue_declare(
        queue,
        QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    ))
    .await
}

/// A lapin error with the password scrubbed from its text (lapin never prints it, but the
/// text is shown and recorded), the original kept for typed matching.
pub(crate) fn scrubbed(endpoint: &AmqpEndpoint, e: lapin::Error) -> Box<Scrubbed> {
    Box::new(Scrubbed::new(e, [endpoint.password.expose()]))
}

/// An AMQP error with its context.
pub(crate) fn amqp_error(
    endpoint: &AmqpEndpoint,
    vhost: &str,
    step: Step,
    what: impl Into<String>,
    e: lapin::Error,
) -> RabbitmqError {
    RabbitmqError::Amqp {
        step,
        what: what.into(),
        amqp: endpoint.display(),
        vhost: vhost.to_string(),
        source: scrubbed(endpoint, e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A broker that takes the connection and never answers: the handshake gives up after
    /// the limit, as a TimedOut I/O error, instead of waiting for ever.
    #[tokio::test]
    async fn a_broker_that_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let uri = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
        let outcome = tokio::time::timeout(
            Duration::from_secs(30),
            reply_within(
                Duration::from_secs(1),
                Connection::connect(&uri, ConnectionProperties::default()),
            ),
        )
        .await
        .expect("the handshake waited past its limit");
        let Err(err) = outcome else {
            panic!("a silent broker completed a handshake");
        };
        let io = match err.kind() {
            lapin::ErrorKind::IOError(io) => io.kind(),
            other => panic!("{other:?}"),
        };
        assert_eq!(io, std::io::ErrorKind::TimedOut);
        silent.abort();
    }
}
