//! TLS for an `https://` management API: the rustls client configuration reqwest is given.
//!
//! Server certificates are checked against the CA certificates of `tls_ca_file` when set,
//! otherwise against the Mozilla roots (webpki-roots), and against the URL's host name (or IP
//! address). `tls_insecure = true` accepts any certificate (with a warning each time a source,
//! target or drill is set up, so on every run): the traffic is encrypted but the server is
//! not authenticated. The same option names and meaning as the Redis store's (README, "TLS").

use std::path::PathBuf;
use std::sync::Arc;

use lifeboat_edge::tls::{self, AcceptAnyCertificate, TlsError};
use rustls::ClientConfig;

use crate::error::RabbitmqError;
use crate::options::RabbitmqOptions;

/// The TLS options of a source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// `tls_ca_file`: the roots to trust instead of webpki's.
    pub ca_file: Option<PathBuf>,
    /// `tls_insecure`: accept any certificate.
    pub insecure: bool,
}

impl TlsSettings {
    /// The TLS options of `options`.
    pub fn of(options: &RabbitmqOptions) -> Self {
        Self {
            ca_file: options.tls_ca_file.clone(),
            insecure: options.tls_insecure,
        }
    }
}

/// The client configuration for the management API at `server` (shown in the warning).
pub(crate) fn client_config(
    settings: &TlsSettings,
    server: &str,
    https: bool,
) -> Result<ClientConfig, RabbitmqError> {
    let provider = tls::provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RabbitmqError::Tls(TlsError::Setup(e)))?;
    let config = if settings.insecure {
        if https {
            tracing::warn!(
                server,
                "tls_insecure = true: the management API's TLS certificate is NOT verified (the \
                 connection is encrypted, but anyone in the path can impersonate the server)"
            );
        }
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
            .with_no_client_auth()
    } else {
        let roots = match &settings.ca_file {
            Some(path) => tls::roots_from_pem_file(path).map_err(RabbitmqError::Tls)?,
            None => tls::webpki_roots(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_unusable_ca_file_is_a_config_error() {
        let settings = TlsSettings {
            ca_file: Some("/nonexistent/rabbit-ca.pem".into()),
            insecure: false,
        };
        let err = client_config(&settings, "https://h", true).unwrap_err();
        assert_eq!(err.kind(), backup_core::StoreErrorKind::Config);
        assert!(
            matches!(err, RabbitmqError::Tls(TlsError::ReadRoots { .. })),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("/nonexistent/rabbit-ca.pem"),
            "{err}"
        );
        assert!(client_config(&TlsSettings::default(), "https://h", true).is_ok());
    }
}
