//! A small client for the RabbitMQ management HTTP API (the `rabbitmq_management` plugin).
//!
//! Credentials go in the `Authorization` header, never in a URL, and every error carries the
//! base URL without password.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{RabbitmqError, Step};
use crate::options::{encode_segment, AmqpEndpoint, ApiEndpoint};

/// How long to wait for the API to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a response may stall between two reads (not a limit on the whole response: a
/// large export streams for as long as it keeps moving). Without it a broker that accepts the
/// connection and then hangs would hang the backup forever.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The most of an error response's body that is read (its `reason` is a line or two; a proxy
/// error page could be anything).
const MAX_ERROR_BODY: usize = 64 << 10;

/// The management API of one broker.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    client: reqwest::Client,
    endpoint: ApiEndpoint,
    /// Used to tell "management plugin disabled" from "broker down".
    amqp: AmqpEndpoint,
}

impl Api {
    pub fn new(endpoint: ApiEndpoint, amqp: AmqpEndpoint) -> Result<Self, RabbitmqError> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| RabbitmqError::BadOption(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            endpoint,
            amqp,
        })
    }

    /// The base URL without password.
    pub fn display(&self) -> String {
        self.endpoint.display()
    }

    /// The user the API is used as.
    pub fn username(&self) -> &str {
        &self.endpoint.username
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.endpoint.base.as_str().trim_end_matches('/'),
            path
        )
    }

    /// Sends a request and turns connection failures and error statuses into clear errors.
    async fn send(
        &self,
        step: Step,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, RabbitmqError> {
        let method_name = method_name(&method);
        let mut request = self
            .client
            .request(method, self.url(path))
            .basic_auth(&self.endpoint.username, Some(&self.endpoint.password));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.connect_error(step, e).await),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = error_body(response).await;
        let reason = api_reason(&text);
        if status == reqwest::StatusCode::UNAUTHORIZED && reason.contains("Login failed") {
            return Err(RabbitmqError::WrongCredentials {
                user: self.endpoint.username.clone(),
                url: self.display(),
                reason,
            });
        }
        let reason = if status == reqwest::StatusCode::UNAUTHORIZED {
            format!(
                "{reason} (user `{}` needs the `administrator` tag to export and import definitions)",
                self.endpoint.username
            )
        } else {
            reason
        };
        Err(RabbitmqError::Http {
            step,
            method: method_name,
            path: path.to_string(),
            url: self.display(),
            status: status.as_u16(),
            reason,
        })
    }

    /// A failed connection: the plugin hint when AMQP answers on the same host.
    async fn connect_error(&self, step: Step, e: reqwest::Error) -> RabbitmqError {
        let is_connect = e.is_connect();
        let reason = error_chain(&e.without_url());
        if is_connect && amqp_answers(&self.amqp).await {
            return RabbitmqError::PluginMissing {
                url: self.display(),
                amqp: self.amqp.display(),
            };
        }
        RabbitmqError::Unreachable {
            step,
            url: self.display(),
            reason,
        }
    }

    /// `GET path` as JSON, read whole: only for small documents (overview, whoami, one
    /// vhost, operator policies); definitions are streamed with [`Api::get_stream`].
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        step: Step,
        path: &str,
    ) -> Result<T, RabbitmqError> {
        let response = self.send(step, reqwest::Method::GET, path, None).await?;
        response.json().await.map_err(|e| RabbitmqError::Request {
            step,
            what: format!("reading GET {path}"),
            url: self.display(),
            reason: error_chain(&e.without_url()),
        })
    }

    /// `GET path`, for streaming the body.
    pub async fn get_stream(
        &self,
        step: Step,
        path: &str,
    ) -> Result<reqwest::Response, RabbitmqError> {
        self.send(step, reqwest::Method::GET, path, None).await
    }

    /// `POST /api/definitions` with `body`.
    pub async fn post_definitions(&self, step: Step, body: &Value) -> Result<(), RabbitmqError> {
        self.send(step, reqwest::Method::POST, "/api/definitions", Some(body))
            .await
            .map(drop)
    }

    /// `PUT path` with `body`.
    pub async fn put(&self, step: Step, path: &str, body: &Value) -> Result<(), RabbitmqError> {
        self.send(step, reqwest::Method::PUT, path, Some(body))
            .await
            .map(drop)
    }

    /// `DELETE path`; a 404 counts as done.
    pub async fn delete(&self, step: Step, path: &str) -> Result<(), RabbitmqError> {
        match self.send(step, reqwest::Method::DELETE, path, None).await {
            Ok(_) => Ok(()),
            Err(RabbitmqError::Http { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates (or updates) a vhost.
    pub async fn put_vhost(&self, step: Step, vhost: &str) -> Result<(), RabbitmqError> {
        self.put(
            step,
            &format!("/api/vhosts/{}", encode_segment(vhost)),
            &serde_json::json!({}),
        )
        .await
    }

    /// Deletes a vhost and everything in it.
    pub async fn delete_vhost(&self, step: Step, vhost: &str) -> Result<(), RabbitmqError> {
        self.delete(step, &format!("/api/vhosts/{}", encode_segment(vhost)))
            .await
    }

    /// Gives `user` full permissions on `vhost` (for a scratch vhost).
    pub async fn grant(&self, step: Step, vhost: &str, user: &str) -> Result<(), RabbitmqError> {
        self.put(
            step,
            &format!(
                "/api/permissions/{}/{}",
                encode_segment(vhost),
                encode_segment(user)
            ),
            &serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}),
        )
        .await
    }
}

fn method_name(method: &reqwest::Method) -> &'static str {
    match *method {
        reqwest::Method::GET => "GET",
        reqwest::Method::POST => "POST",
        reqwest::Method::PUT => "PUT",
        reqwest::Method::DELETE => "DELETE",
        _ => "request",
    }
}

/// The first [`MAX_ERROR_BODY`] bytes of an error response's body (empty when it cannot be
/// read: the status alone is then the reason).
async fn error_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).into_owned()
}

/// The `reason` (or `error`) of a management API error body, or the body itself, shortened.
fn api_reason(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| v.get("reason").or_else(|| v.get("error")))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| body.trim().to_string());
    let mut text: String = text.chars().take(500).collect();
    if text.is_empty() {
        text = "no reason given".to_string();
    }
    text
}

/// An error with its causes, e.g. `error sending request: tcp connect error: Connection refused`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

/// Whether a TCP connection to the AMQP port succeeds within a couple of seconds.
async fn amqp_answers(amqp: &AmqpEndpoint) -> bool {
    let connect = tokio::net::TcpStream::connect((amqp.host.as_str(), amqp.port));
    matches!(
        tokio::time::timeout(Duration::from_secs(3), connect).await,
        Ok(Ok(_))
    )
}
