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
//! the system has none). The verifiers and PEM roots are the edge toolkit's
//! (`lifeboat_edge::tls`); what is PostgreSQL's own — the modes, the system trust store the
//! client tools see too — is here and in `trust`.

use std::path::PathBuf;
use std::sync::Arc;

use lifeboat_edge::tls::{
    provider, roots_from_pem_file, AcceptAnyCertificate, ChainOnly, TlsError,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::ClientConfig;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::trust::{system_bundle_path, system_roots};

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
    /// The configured roots (`sslrootcert` / `tls_ca_file`), if any.
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
    pub(crate) fn connector(&self) -> Result<Option<MakeRustlsConnect>, TlsError> {
        if self.mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = provider();
        let verifier: Arc<dyn ServerCertVerifier> = match self.check() {
            // libpq's `prefer` / `require` without roots: encrypted, server not authenticated.
            Check::None => Arc::new(AcceptAnyCertificate::new(provider.clone())),
            check => {
                let roots = match &self.root_cert {
                    Some(RootCerts::File(path)) => Arc::new(roots_from_pem_file(path)?),
                    Some(RootCerts::System) | None => system_roots(),
                };
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(TlsError::Verifier)?;
                if check == Check::Chain {
                    Arc::new(ChainOnly::new(webpki))
                } else {
                    webpki
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        let err = tls.connector().err().unwrap().to_string();
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
            .to_string()
            .contains("no PEM certificate"));
    }
}
