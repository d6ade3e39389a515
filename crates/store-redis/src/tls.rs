//! TLS for `rediss://` servers: one rustls client configuration (ring provider) shared by the
//! fred command connections and the raw connections (`SYNC`, the logical backup).
//!
//! Server certificates are checked against the CA certificates of `tls_ca_file` when set,
//! otherwise against the Mozilla roots (webpki-roots), and against the URL's host name (or IP
//! address). `tls_insecure = true` accepts any certificate (a warning is logged on every
//! connection): the traffic is encrypted but the server is not authenticated.

use std::sync::Arc;

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
        tracing::warn!(
            server = %server,
            "tls_insecure = true: the server's TLS certificate is NOT verified (the connection is \
             encrypted, but anyone in the path can impersonate the server)"
        );
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
