//! TLS for `rediss://` servers: one rustls client configuration (ring provider) shared by the
//! fred command connections and the raw connections (`SYNC`, the logical backup), built from
//! the edge toolkit's roots and verifiers (ARCHITECTURE.md, "The edge toolkit").
//!
//! Server certificates are checked against the CA certificates of `tls_ca_file` when set,
//! otherwise against the Mozilla roots (webpki-roots), and against the URL's host name (or IP
//! address). `tls_insecure = true` accepts any certificate (a warning is logged once per
//! server): the traffic is encrypted but the server is not authenticated.

use std::collections::HashSet;
use std::error::Error;
use std::sync::{Arc, Mutex};

use lifeboat_edge::tls::{
    find_rustls_error, provider, roots_from_pem_file, webpki_roots, AcceptAnyCertificate,
};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::endpoint::Endpoint;
use crate::RedisError;

/// The rustls client configuration for `ep` (a `rediss://` endpoint).
pub(crate) fn client_config(ep: &Endpoint) -> Result<Arc<ClientConfig>, RedisError> {
    let server = ep.redacted();
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RedisError::TlsSetup {
            server: server.clone(),
            source: lifeboat_edge::tls::TlsError::Setup(e),
        })?;
    let config = if ep.tls_insecure {
        warn_insecure_once(&server);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
            .with_no_client_auth()
    } else {
        let roots = match &ep.tls_ca_file {
            Some(path) => roots_from_pem_file(path).map_err(RedisError::TlsCaFile)?,
            None => webpki_roots(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Logs the `tls_insecure` warning once per server and process (a backup opens several
/// connections).
fn warn_insecure_once(server: &str) {
    static WARNED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned
        .get_or_insert_with(HashSet::new)
        .insert(server.to_string())
    {
        tracing::warn!(
            server = %server,
            "tls_insecure = true: the server's TLS certificate is NOT verified (the connection is \
             encrypted, but anyone in the path can impersonate the server)"
        );
    }
}

/// The error to report when `error` (a handshake's) is a rejected server certificate,
/// recognised by type anywhere in its chain.
pub(crate) fn rejected(server: &str, error: &(dyn Error + 'static)) -> Option<RedisError> {
    match find_rustls_error(error)? {
        e @ rustls::Error::InvalidCertificate(_) => Some(RedisError::CertificateRejected {
            server: server.to_string(),
            source: e.clone(),
        }),
        _ => None,
    }
}

/// The name the server's certificate must carry: the URL's host (a DNS name or an IP address).
pub(crate) fn server_name(ep: &Endpoint) -> Result<ServerName<'static>, RedisError> {
    ServerName::try_from(ep.host.clone()).map_err(|source| RedisError::ServerName {
        server: ep.redacted(),
        host: ep.host.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_certificate_is_recognised_by_type() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let m = rejected("rediss://h:1/0", &io).unwrap().to_string();
        assert!(
            m.starts_with("redis rediss://h:1/0: TLS handshake failed: the server's TLS certificate was rejected (invalid peer certificate: UnknownIssuer);"),
            "{m}"
        );
        assert!(m.contains("tls_ca_file"));
        // The words alone are not enough.
        let text = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        assert!(rejected("s", &text).is_none());
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(rejected("s", &refused).is_none());
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let mut ep = Endpoint::parse("rediss://h:1").unwrap();
        ep.tls_ca_file = Some("/nonexistent/ca.pem".into());
        let err = client_config(&ep).unwrap_err();
        assert_eq!(err.kind(), backup_core::StoreErrorKind::Config);
        let err = err.to_string();
        assert!(
            err.contains("tls_ca_file") && err.contains("/nonexistent/ca.pem"),
            "{err}"
        );
        ep.tls_ca_file = None;
        assert!(client_config(&ep).is_ok());
        ep.tls_insecure = true;
        assert!(client_config(&ep).is_ok());
    }
}
