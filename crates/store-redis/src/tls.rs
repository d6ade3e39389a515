//! TLS for `rediss://` servers: one rustls client configuration (ring provider) shared by the
//! fred command connections and the raw connections (`SYNC`, the logical backup).
//!
//! Server certificates are checked against the CA certificates of `tls_ca_file` when set,
//! otherwise against the Mozilla roots (webpki-roots), and against the URL's host name (or IP
//! address). `tls_insecure = true` accepts any certificate (a warning is logged on every
//! connection): the traffic is encrypted but the server is not authenticated.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::options::Endpoint;
use crate::RedisError;

/// The rustls client configuration for `ep` (a `rediss://` endpoint).
pub(crate) fn client_config(ep: &Endpoint) -> Result<Arc<ClientConfig>, RedisError> {
    let server = ep.redacted();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RedisError::Config(format!("{server}: TLS setup: {e}")))?;
    let config = if ep.tls_insecure {
        warn_insecure_once(&server);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        match &ep.tls_ca_file {
            Some(path) => {
                let bad = |why: String| {
                    RedisError::Config(format!("tls_ca_file {}: {why}", path.display()))
                };
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(e.to_string()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(e.to_string()))?;
                if certs.is_empty() {
                    return Err(bad("no PEM certificate in the file".to_string()));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| bad(e.to_string()))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
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

/// A handshake error that is about the server's certificate, explained with what to do.
pub(crate) fn explain(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    if !lower.contains("certificate") && !lower.contains("unknownissuer") {
        return None;
    }
    // fred reports the io::Error's Debug form; keep its rustls part.
    let core = match message.find("InvalidCertificate(") {
        Some(i) => message[i..].trim_end_matches(" }"),
        None => message,
    };
    Some(format!(
        "the server's TLS certificate was rejected ({core}); set tls_ca_file to the CA \
         certificate that signed it (or tls_insecure = true, for testing only)"
    ))
}

/// The name the server's certificate must carry: the URL's host (a DNS name or an IP address).
pub(crate) fn server_name(ep: &Endpoint) -> Result<ServerName<'static>, RedisError> {
    ServerName::try_from(ep.host.clone()).map_err(|e| {
        RedisError::Config(format!(
            "{}: `{}` is not a valid TLS server name: {e}",
            ep.redacted(),
            ep.host
        ))
    })
}

/// `tls_insecure`: every certificate is accepted; handshake signatures are still checked (so
/// the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct AcceptAny(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_certificate_errors() {
        let fred = "Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }";
        let m = explain(fred).unwrap();
        assert!(
            m.starts_with(
                "the server's TLS certificate was rejected (InvalidCertificate(UnknownIssuer));"
            ),
            "{m}"
        );
        assert!(m.contains("tls_ca_file"));
        assert!(explain("invalid peer certificate: UnknownIssuer").is_some());
        assert!(explain("connection refused").is_none());
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let mut ep = Endpoint::parse("rediss://h:1").unwrap();
        ep.tls_ca_file = Some("/nonexistent/ca.pem".into());
        let err = client_config(&ep).unwrap_err().to_string();
        assert!(err.contains("tls_ca_file /nonexistent/ca.pem"), "{err}");
        ep.tls_ca_file = None;
        assert!(client_config(&ep).is_ok());
        ep.tls_insecure = true;
        assert!(client_config(&ep).is_ok());
    }
}
