//! AMQP connections (lapin) for reading and republishing messages.

use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Connection, ConnectionProperties};

use crate::api::error_chain;
use crate::error::{RabbitmqError, Step};
use crate::options::AmqpEndpoint;

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
                password: endpoint.password.clone(),
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
        .map_err(|e| amqp_error(endpoint, vhost, step, "connect", &e))
}

/// An AMQP error with its context.
pub(crate) fn amqp_error(
    endpoint: &AmqpEndpoint,
    vhost: &str,
    step: Step,
    what: impl Into<String>,
    e: &lapin::Error,
) -> RabbitmqError {
    let reason = error_chain(e);
    // lapin never prints the password, but make sure.
    let reason = if endpoint.password.is_empty() {
        reason
    } else {
        reason.replace(&endpoint.password, "***")
    };
    RabbitmqError::Amqp {
        step,
        what: what.into(),
        amqp: endpoint.display(),
        vhost: vhost.to_string(),
        reason,
    }
}
