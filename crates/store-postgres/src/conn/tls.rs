//! TLS: libpq's `sslmode` / `sslrootcert` for the in-process connections (rustls through
//! `tokio-postgres-rustls`) and for the client tools (`PGSSLMODE` / `PGSSLROOTCERT` in their
//! environment).
//!
//! The modes follow libpq: `disable` (never TLS), `allow` and `prefer` (TLS when the server
//! offers it, no certificate check; in-process both behave like `prefer`), `require` (TLS or
//! fail; no certificate check unless a root certificate is configured, then like `verify-ca`,
//! as libpq does with a root certificate file), `verify-ca` (the chain must lead to a trusted
//! root) and `verify-full` (chain and host name). The roots are `sslrootcert` (a PEM file) or,
//! without it (or with `sslrootcert=system`), the system's trust store (webpki's roots when
//! the system has none).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use rustls::{Error as TlsError, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// No TLS.
    Disable,
    /// libpq: plaintext first, TLS if the server insists. In-process: like `Prefer`.
    Allow,
    /// TLS when the server offers it, no certificate check.
    Prefer,
    /// TLS or fail; the certificate is checked only when a root certificate is configured.
    Require,
    /// TLS, the certificate chain must lead to a trusted root.
    VerifyCa,
    /// TLS, chain and host name checked.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// libpq's spelling (the value of `PGSSLMODE`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether a connection without TLS is refused.
    pub(crate) fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// Where trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCerts {
    /// The system's trust store (`sslrootcert=system`, or none given).
    System,
    /// A PEM file of one or more certificates (a private CA, or a self-signed server).
    File(PathBuf),
}

impl RootCerts {
    /// `sslrootcert`'s value: `system` or a path.
    pub(crate) fn parse(text: &str) -> Self {
        if text == "system" {
            RootCerts::System
        } else {
            RootCerts::File(PathBuf::from(text))
        }
    }
}

/// How a connection's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Chain,
    ChainAndName,
}

/// The TLS settings of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tls {
    /// The mode.
    pub(crate) mode: SslMode,
    /// The configured roots (`sslrootcert` / `ssl_root_cert`), if any.
    pub(crate) root_cert: Option<RootCerts>,
}

impl Tls {
    fn check(&self) -> Check {
        match self.mode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => Check::None,
            // libpq: "if a root CA file exists, require behaves like verify-ca".
            SslMode::Require if self.root_cert.is_some() => Check::Chain,
            SslMode::Require => Check::None,
            SslMode::VerifyCa => Check::Chain,
            SslMode::VerifyFull => Check::ChainAndName,
        }
    }

    /// The rustls connector for this mode (`None`: no TLS at all). Reads the root certificate
    /// file (or the system's trust store, once per process).
    pub(crate) fn connector(&self) -> Result<Option<MakeRustlsConnect>, String> {
        if self.mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match self.check() {
            Check::None => Arc::new(NoCheck(provider.clone())),
            check => {
                let roots = match &self.root_cert {
                    Some(RootCerts::File(path)) => Arc::new(roots_from_file(path)?),
                    Some(RootCerts::System) | None => system_roots(),
                };
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
                if check == Check::Chain {
                    Arc::new(ChainOnly(webpki))
                } else {
                    webpki
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Some(MakeRustlsConnect::new(config)))
    }

    /// `PGSSLMODE` and, where it matters, `PGSSLROOTCERT` for libpq's tools, so that they
    /// check what the in-process connection checks. Without a configured root file, a
    /// verifying mode points them at the system's CA bundle (libpq would otherwise look for
    /// `~/.postgresql/root.crt`).
    pub(crate) fn child_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("PGSSLMODE", self.mode.as_str().to_string())];
        let root = match (&self.root_cert, self.check()) {
            (Some(RootCerts::File(path)), _) => Some(path.display().to_string()),
            (_, Check::None) => None,
            (Some(RootCerts::System) | None, _) => {
                system_bundle_path().map(|p| p.display().to_string())
            }
        };
        if let Some(root) = root {
            env.push(("PGSSLROOTCERT", root));
        }
        env
    }
}

/// The certificates of a PEM file as a root store.
fn roots_from_file(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read the root certificate file {shown}: {e}"))?;
    let mut roots = RootCertStore::empty();
    for cert in iter {
        let cert =
            cert.map_err(|e| format!("cannot read the root certificate file {shown}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable root certificate in {shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "the root certificate file {shown} holds no PEM certificate"
        ));
    }
    Ok(roots)
}

/// The system's trust store, loaded once: the CA bundle file the client tools get too (so both
/// trust the same roots), else what `rustls-native-certs` finds, else webpki's roots.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            if let Some(bundle) = system_bundle_path() {
                if let Ok(iter) = CertificateDer::pem_file_iter(&bundle) {
                    roots.add_parsable_certificates(iter.filter_map(Result::ok));
                }
            }
            if roots.is_empty() {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
            if roots.is_empty() {
                tracing::debug!("no system root certificates found; using webpki's roots");
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(roots)
        })
        .clone()
}

/// The system's CA bundle file for the client tools: `SSL_CERT_FILE`, else the usual
/// locations (Debian/Ubuntu, RHEL/Fedora, Alpine/macOS).
fn system_bundle_path() -> Option<PathBuf> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    from_env
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        )
        .find(|p| p.is_file())
}

/// `prefer` / `require` without roots: TLS without a certificate check (libpq's behaviour);
/// the handshake signatures are still verified.
#[derive(Debug)]
struct NoCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is not compared.
/// webpki checks the chain (signatures, validity, usage) before the name, so a name error
/// means the chain passed.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A hint for a failed TLS handshake, from the error text.
pub(crate) fn hint(message: &str, tls: &Tls, host: &str) -> Option<String> {
    if message.contains("not valid for name") || message.contains("NotValidForName") {
        Some(format!(
            "the server's certificate does not name the host `{host}`: connect by a name the \
             certificate lists, or use sslmode=verify-ca to check the chain only"
        ))
    } else if message.contains("UnknownIssuer") || message.contains("unknown issuer") {
        Some(match &tls.root_cert {
            Some(RootCerts::File(path)) => format!(
                "the server's certificate is not signed by a certificate in {}",
                path.display()
            ),
            _ => "the server's certificate is not signed by a root the system trusts: point \
                  `sslrootcert` (URL) or `ssl_root_cert` at the CA certificate (PEM)"
                .to_string(),
        })
    } else if message.contains("server does not support TLS") {
        Some(format!(
            "sslmode={} needs TLS but the server has ssl = off",
            tls.mode.as_str()
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for mode in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            assert_eq!(SslMode::parse(mode).map(SslMode::as_str), Some(mode));
        }
        assert_eq!(SslMode::parse("verify_full"), None);
    }

    #[test]
    fn checks_follow_libpq() {
        let tls = |mode, root_cert| Tls { mode, root_cert };
        assert_eq!(tls(SslMode::Prefer, None).check(), Check::None);
        assert_eq!(tls(SslMode::Require, None).check(), Check::None);
        let file = Some(RootCerts::File("/ca.pem".into()));
        assert_eq!(tls(SslMode::Require, file.clone()).check(), Check::Chain);
        assert_eq!(tls(SslMode::VerifyCa, None).check(), Check::Chain);
        assert_eq!(
            tls(SslMode::VerifyFull, file.clone()).check(),
            Check::ChainAndName
        );
        let env = tls(SslMode::VerifyCa, file).child_env();
        assert!(env.contains(&("PGSSLMODE", "verify-ca".into())));
        assert!(env.contains(&("PGSSLROOTCERT", "/ca.pem".into())));
        let env = tls(SslMode::Require, None).child_env();
        assert_eq!(env, vec![("PGSSLMODE", "require".to_string())]);
        assert!(tls(SslMode::Disable, None).connector().unwrap().is_none());
    }

    #[test]
    fn unreadable_root_file_is_a_clear_error() {
        let tls = Tls {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCerts::File("/nonexistent/ca.pem".into())),
        };
        let err = tls.connector().err().unwrap();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let tls = Tls {
            mode: SslMode::VerifyCa,
            root_cert: Some(RootCerts::File(empty)),
        };
        assert!(tls
            .connector()
            .err()
            .unwrap()
            .contains("no PEM certificate"));
    }
}
