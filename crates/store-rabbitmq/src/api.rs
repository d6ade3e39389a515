//! A small client for the RabbitMQ management HTTP API (the `rabbitmq_management` plugin).
//!
//! Credentials go in the `Authorization` header, never in a URL, and every error carries the
//! base URL without password. An `https://` API is checked as [`crate::tls`] says.

use std::time::Duration;

use bytes::Bytes;
use lifeboat_edge::{percent, redact};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::definitions::{Definitions, MAX_OBJECT_BYTES};
use crate::endpoint::{AmqpEndpoint, ApiEndpoint, Endpoints};
use crate::error::{Malformed, RabbitmqError, Step};
use crate::responses::{ErrorBody, LOGIN_FAILED};
use crate::scan::{Event, Scanner};

/// How long to wait for the API to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a response may stall between two reads (not a limit on the whole response: a
/// large export streams for as long as it keeps moving). Without it a broker that accepts the
/// connection and then hangs would hang the backup forever.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The most of an error response's body that is read (its `reason` is a line or two; a proxy
/// error page could be anything).
const MAX_ERROR_BODY: usize = 64 << 10;

/// The management API of one broker (and, for messages, where its AMQP port is).
#[derive(Clone, Debug)]
pub(crate) struct Api {
    client: reqwest::Client,
    endpoint: ApiEndpoint,
    /// For messages; also tells "management plugin disabled" from "broker down".
    amqp: AmqpEndpoint,
}

impl Api {
    /// The client of the broker at `endpoints`. No I/O (but `tls_ca_file` is read).
    pub fn new(endpoints: Endpoints) -> Result<Self, RabbitmqError> {
        let Endpoints { api, amqp } = endpoints;
        let https = api.base.scheme() == "https";
        let tls = crate::tls::client_config(&api.tls, &api.display(), https)?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .use_preconfigured_tls(tls)
            .build()
            .map_err(RabbitmqError::HttpClient)?;
        Ok(Self {
            client,
            endpoint: api,
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

    /// The broker's AMQP endpoint.
    pub fn amqp(&self) -> &AmqpEndpoint {
        &self.amqp
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
        let mut request = self.client.request(method, self.url(path)).basic_auth(
            &self.endpoint.username,
            Some(self.endpoint.password.expose()),
        );
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
        let body = error_body(response).await;
        // The API's text is shown: it must not echo the password.
        let reason = redact::scrub(&api_reason(&body), [self.endpoint.password.expose()]);
        if status == reqwest::StatusCode::UNAUTHORIZED && reason == LOGIN_FAILED {
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

    /// A request that got no response: a rejected certificate, the plugin hint when AMQP
    /// answers on the same host, or an unreachable API.
    async fn connect_error(&self, step: Step, e: reqwest::Error) -> RabbitmqError {
        let e = e.without_url();
        if let Some(problem) = lifeboat_edge::tls::certificate_error(&e) {
            return RabbitmqError::Certificate {
                step,
                url: self.display(),
                problem: problem.clone(),
                source: e,
            };
        }
        if e.is_connect() && amqp_answers(&self.amqp).await {
            return RabbitmqError::PluginMissing {
                url: self.display(),
                amqp: self.amqp.display(),
            };
        }
        RabbitmqError::Unreachable {
            step,
            url: self.display(),
            source: e,
        }
    }

    /// A body that broke off or is not what was expected.
    fn request_error(&self, step: Step, what: String, e: reqwest::Error) -> RabbitmqError {
        RabbitmqError::Request {
            step,
            what,
            url: self.display(),
            source: e.without_url(),
        }
    }

    /// `GET path` as JSON, read whole: only for small documents (overview, whoami, one
    /// vhost, operator policies); definitions are streamed with [`Api::document`].
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        step: Step,
        path: &str,
    ) -> Result<T, RabbitmqError> {
        let response = self.send(step, reqwest::Method::GET, path, None).await?;
        response
            .json()
            .await
            .map_err(|e| self.request_error(step, format!("reading GET {path}"), e))
    }

    /// `GET path`, a definitions document, to be read chunk by chunk.
    pub async fn document(&self, step: Step, path: &str) -> Result<Document<'_>, RabbitmqError> {
        let response = self.send(step, reqwest::Method::GET, path, None).await?;
        Ok(Document {
            api: self,
            step,
            what: format!("reading GET {path}"),
            response,
            scanner: Scanner::new(MAX_OBJECT_BYTES),
            ended: false,
        })
    }

    /// Reads a definitions document whole (a broker's topology, which restore and drills
    /// compare object by object).
    pub async fn definitions(&self, step: Step, path: &str) -> Result<Definitions, RabbitmqError> {
        let mut document = self.document(step, path).await?;
        let mut defs = Definitions::default();
        let mut events = Vec::new();
        while document.next(&mut events).await?.is_some() {
            for event in events.drain(..) {
                defs.add(event).map_err(|e| document.bad(e))?;
            }
        }
        for event in events.drain(..) {
            defs.add(event).map_err(|e| document.bad(e))?;
        }
        Ok(defs)
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
        self.put(step, &vhost_path(vhost), &serde_json::json!({}))
            .await
    }

    /// Deletes a vhost and everything in it.
    pub async fn delete_vhost(&self, step: Step, vhost: &str) -> Result<(), RabbitmqError> {
        self.delete(step, &vhost_path(vhost)).await
    }

    /// Gives `user` full permissions on `vhost` (for a scratch vhost).
    pub async fn grant(&self, step: Step, vhost: &str, user: &str) -> Result<(), RabbitmqError> {
        self.put(
            step,
            &object_path("permissions", vhost, user),
            &serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}),
        )
        .await
    }
}

/// A definitions document the API is sending, scanned as it arrives.
pub(crate) struct Document<'a> {
    api: &'a Api,
    step: Step,
    what: String,
    response: reqwest::Response,
    scanner: Scanner,
    ended: bool,
}

impl Document<'_> {
    /// The next chunk of the body, with the pieces it completes appended to `events`; `None`
    /// once the body has ended with a complete document.
    pub async fn next(&mut self, events: &mut Vec<Event>) -> Result<Option<Bytes>, RabbitmqError> {
        if self.ended {
            return Ok(None);
        }
        let chunk = self
            .response
            .chunk()
            .await
            .map_err(|e| self.api.request_error(self.step, self.what.clone(), e))?;
        match chunk {
            Some(chunk) => {
                self.scanner
                    .feed(&chunk, events)
                    .map_err(|e| self.bad(e.into()))?;
                Ok(Some(chunk))
            }
            None => {
                self.ended = true;
                self.scanner
                    .finish(events)
                    .map_err(|e| self.bad(e.into()))?;
                Ok(None)
            }
        }
    }

    /// The error for a document that is not a definitions document.
    pub fn bad(&self, problem: Malformed) -> RabbitmqError {
        RabbitmqError::BadDocument {
            step: self.step,
            what: self.what.clone(),
            url: self.api.display(),
            problem,
        }
    }
}

/// `/api/vhosts/<vhost>`.
pub(crate) fn vhost_path(vhost: &str) -> String {
    format!("/api/vhosts/{}", percent::encode_component(vhost))
}

/// `/api/<kind>/<vhost>/<name>`, e.g. a queue, an exchange or a user's permissions.
pub(crate) fn object_path(kind: &str, vhost: &str, name: &str) -> String {
    format!(
        "/api/{kind}/{}/{}",
        percent::encode_component(vhost),
        percent::encode_component(name)
    )
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
    let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
    let text = parsed
        .and_then(|b| b.reason.or(b.error))
        .map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_else(|| body.trim().to_string());
    let mut text: String = text.chars().take(500).collect();
    if text.is_empty() {
        text = "no reason given".to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_come_from_the_body() {
        assert_eq!(
            api_reason(r#"{"error":"not_authorized","reason":"Login failed"}"#),
            LOGIN_FAILED
        );
        assert_eq!(api_reason(r#"{"error":"bad_request"}"#), "bad_request");
        assert_eq!(api_reason("  <html>proxy</html> "), "<html>proxy</html>");
        assert_eq!(api_reason(""), "no reason given");
        assert_eq!(vhost_path("/"), "/api/vhosts/%2F");
        assert_eq!(
            object_path("queues", "a b", "q/1"),
            "/api/queues/a%20b/q%2F1"
        );
    }
}
