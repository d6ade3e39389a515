//! AMQP connections (lapin) for reading and republishing messages, and their errors, scrubbed
//! of the password.

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
    Connection::connect_uri(uri, properties)
        .await
        .map_err(|e| amqp_error(endpoint, vhost, step, "connect", e))
}

/// `queue.declare(passive)`: whether `queue` exists, with its message and consumer counts. A
/// failure closes the channel (the broker's doing).
pub(crate) async fn passive_declare(channel: &Channel, queue: &str) -> lapin::Result<lapin::Queue> {
    channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
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
