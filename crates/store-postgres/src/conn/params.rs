//! libpq's TLS parameters in a URL's query (`sslmode`, `sslrootcert`), which tokio-postgres
//! does not read (it knows no `verify-*` and no root file): taken out here, percent-decoded,
//! and handled by lifeboat.

use lifeboat_edge::percent;

use crate::error::UrlError;

/// A URL split into what tokio-postgres parses and the TLS parameters lifeboat handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SslParams {
    /// The URL without `sslmode` and `sslrootcert`.
    pub(super) rest: String,
    /// `sslmode`, decoded.
    pub(super) mode: Option<String>,
    /// `sslrootcert`, decoded.
    pub(super) root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of `url`'s query. Values are percent-decoded as
/// libpq does (`+` stays `+`: this is not form encoding).
pub(super) fn split_ssl_params(url: &str) -> Result<SslParams, UrlError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(SslParams {
            rest: url.to_string(),
            mode: None,
            root_cert: None,
        });
    };
    let decode =
        |key, value| percent::decode(value).map_err(|source| UrlError::Escape { key, source });
    let (mut mode, mut root_cert) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(decode("sslmode", value)?),
            "sslrootcert" => root_cert = Some(decode("sslrootcert", value)?),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(SslParams {
        rest,
        mode,
        root_cert,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tls_parameters_are_taken_out() {
        let params = split_ssl_params(
            "postgres://u@h/db?sslmode=verify-ca&application_name=x&sslrootcert=%2Fetc%2Fa+b.pem",
        )
        .unwrap();
        assert_eq!(params.rest, "postgres://u@h/db?application_name=x");
        assert_eq!(params.mode.as_deref(), Some("verify-ca"));
        assert_eq!(params.root_cert.as_deref(), Some("/etc/a+b.pem"));
        assert_eq!(
            split_ssl_params("postgres://h/db?sslmode=disable").unwrap(),
            SslParams {
                rest: "postgres://h/db".to_string(),
                mode: Some("disable".to_string()),
                root_cert: None,
            }
        );
        let err = split_ssl_params("postgres://h/db?sslrootcert=%FF").unwrap_err();
        assert!(
            matches!(
                err,
                UrlError::Escape {
                    key: "sslrootcert",
                    ..
                }
            ),
            "{err}"
        );
    }
}
