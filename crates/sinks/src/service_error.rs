//! [`ServiceError`]: an OpenDAL error as a person should see it — what kind of failure, the
//! HTTP status and the service's own error code and message, or which timeout ran out — never
//! the response's headers that OpenDAL keeps in its context, never a credential.

use std::error::Error;
use std::fmt;

use lifeboat_edge::Scrubbed;

/// The longest service message shown, in characters.
const MAX_MESSAGE: usize = 200;

/// An error of a storage service, or of reaching it, shown in one short line, e.g.
/// `permission denied (HTTP 403, AccessDenied: Access Denied)` or `no answer within 20s`.
///
/// Its causes (the HTTP client's or the OS's errors) stay a chain, scrubbed of the storage's
/// secrets; the OpenDAL error stays reachable with [`ServiceError::opendal`] for typed matching.
pub struct ServiceError {
    text: String,
    /// The OpenDAL error, with its cause chain scrubbed of secrets.
    original: Scrubbed,
}

impl ServiceError {
    /// Wraps `error`, keeping each of `secrets` out of the text and of the causes.
    pub fn new<'a>(error: opendal::Error, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let secrets: Vec<&str> = secrets.into_iter().collect();
        let text = short_text(&error, secrets.iter().copied());
        Self {
            text,
            original: Scrubbed::new(error, secrets),
        }
    }

    /// The OpenDAL error (its kind, whether it is temporary).
    pub fn opendal(&self) -> Option<&opendal::Error> {
        self.original.find::<opendal::Error>()
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never OpenDAL's Debug: it holds the response headers.
        f.debug_tuple("ServiceError").field(&self.text).finish()
    }
}

impl Error for ServiceError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.original.source()
    }
}

/// The one-line text a [`ServiceError`] of `error` shows, without `secrets` (for logs that
/// only see the error, such as retries).
pub(crate) fn short_text<'a>(
    error: &opendal::Error,
    secrets: impl IntoIterator<Item = &'a str>,
) -> String {
    lifeboat_edge::redact::scrub(&summary(error), secrets)
}

/// The short text of `error`, from its kind and the parts of its text that OpenDAL fills
/// (`KIND (STATUS) at OP, context: { k: v, ... } => MESSAGE, source: ...`): the HTTP status of
/// the `response` context, the `code`/`message` of the service's error body, or the timeout.
fn summary(error: &opendal::Error) -> String {
    let full = error.to_string();
    let kind = kind_text(error.kind());
    let (context, message) = split(&full);
    if let Some(after) = field(context, "timeout: ").filter(|_| message.contains("timeout")) {
        return format!(
            "no answer within {}s ({message})",
            after.trim_end_matches(".0")
        );
    }
    let status = field(context, "status: ").filter(|s| s.len() == 3);
    // OpenDAL's fs errors repeat the kind as their message ("permission denied").
    let detail = service_detail(message).filter(|d| !d.eq_ignore_ascii_case(kind));
    match (status, detail) {
        (Some(status), Some(detail)) => format!("{kind} (HTTP {status}, {detail})"),
        (Some(status), None) => format!("{kind} (HTTP {status})"),
        (None, Some(detail)) => format!("{kind}: {detail}"),
        (None, None) => kind.to_owned(),
    }
}

/// The context part and the message part of an OpenDAL error's text.
fn split(full: &str) -> (&str, &str) {
    let body = full.split_once(", source: ").map_or(full, |(body, _)| body);
    match body.split_once(" => ") {
        Some((context, message)) => (context, message.trim()),
        None => (body, ""),
    }
}

/// The value after `name` in `text`, up to the next `,`, ` ` or `}`.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(name)? + name.len();
    let rest = &text[start..];
    let end = rest.find([',', ' ', '}']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|v| !v.is_empty())
}

/// A quoted field `name: "value"` of a service error's debug text (`S3Error { code: "..",
/// message: ".." }`, Azure's and GCS's alike).
fn quoted<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let pattern = format!("{name}: \"");
    let start = text.find(&pattern)? + pattern.len();
    let rest = &text[start..];
    Some(&rest[..rest.find('"')?]).filter(|v| !v.is_empty())
}

/// The service's error code and message, or OpenDAL's own message, shortened.
fn service_detail(message: &str) -> Option<String> {
    let detail = match (quoted(message, "code"), quoted(message, "message")) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code.to_owned(),
        (None, Some(text)) => text.to_owned(),
        (None, None) => message.to_owned(),
    };
    let detail: String = detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let detail = detail.trim();
    if detail.is_empty() {
        return None;
    }
    Some(match detail.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}...", &detail[..cut]),
        None => detail.to_owned(),
    })
}

fn kind_text(kind: opendal::ErrorKind) -> &'static str {
    use opendal::ErrorKind::*;
    match kind {
        NotFound => "not found",
        PermissionDenied => "permission denied",
        ConfigInvalid => "invalid configuration",
        RateLimited => "rate limited",
        AlreadyExists => "already exists",
        ConditionNotMatch => "condition not met",
        Unsupported => "not supported",
        IsADirectory => "is a directory",
        NotADirectory => "not a directory",
        RangeNotSatisfied => "range not satisfiable",
        IsSameFile => "same file",
        _ => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: opendal::ErrorKind, message: &str, response: &str) -> opendal::Error {
        opendal::Error::new(kind, message)
            .with_operation("list")
            .with_context("service", "s3")
            .with_context("uri", "http://127.0.0.1:9000/bucket?list-type=2")
            .with_context("response", response)
    }

    const RESPONSE_404: &str = r#"Parts { status: 404, version: HTTP/1.1, headers: {"server": "Werkzeug/3.1.3", "x-amz-request-id": "abc", "content-type": "application/xml"} }"#;

    #[test]
    fn an_s3_error_shows_status_code_and_message_without_headers() {
        let err = error(
            opendal::ErrorKind::ConfigInvalid,
            r#"S3Error { code: "NoSuchBucket", message: "The specified bucket does not exist", resource: "b", request_id: "x" }"#,
            RESPONSE_404,
        );
        let shown = ServiceError::new(err, []).to_string();
        assert_eq!(
            shown,
            "invalid configuration (HTTP 404, NoSuchBucket: The specified bucket does not exist)"
        );
    }

    #[test]
    fn a_timeout_says_how_long() {
        let err = opendal::Error::new(opendal::ErrorKind::Unexpected, "io timeout reached")
            .with_operation("write")
            .with_context("timeout", "20");
        assert_eq!(
            ServiceError::new(err, []).to_string(),
            "no answer within 20s (io timeout reached)"
        );
    }

    #[test]
    fn secrets_are_scrubbed_and_long_bodies_cut() {
        let body = format!("<Error>token s3cr3t {}</Error>", "x".repeat(500));
        let err = error(opendal::ErrorKind::Unexpected, &body, RESPONSE_404);
        let shown = ServiceError::new(err, ["s3cr3t"]).to_string();
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.len() < 260, "{shown}");
        assert!(!shown.contains("headers"), "{shown}");
        let debug = format!(
            "{:?}",
            ServiceError::new(error(opendal::ErrorKind::NotFound, "", RESPONSE_404), [])
        );
        assert!(!debug.contains("headers"), "{debug}");
    }

    #[test]
    fn the_opendal_error_stays_reachable() {
        let err = ServiceError::new(
            opendal::Error::new(opendal::ErrorKind::PermissionDenied, "denied"),
            [],
        );
        assert_eq!(
            err.opendal().map(opendal::Error::kind),
            Some(opendal::ErrorKind::PermissionDenied)
        );
        assert_eq!(err.to_string(), "permission denied: denied");
    }
}
