//! TLS for the stores' in-process clients (rustls, ring provider): trusted roots from a PEM
//! file or webpki's, the two certificate policies short of full verification, and typed
//! recognition of a rejected certificate in an error chain.
//!
//! Every store that speaks TLS takes the same option names (README, "TLS"): `tls_ca_file`
//! (a PEM file of trusted roots) and, where the store allows it, `tls_insecure` (accept any
//! certificate; testing only).

mod roots;
mod verifiers;

pub use roots::{roots_from_pem_file, webpki_roots};
pub use verifiers::{AcceptAnyCertificate, ChainOnly};

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The crypto provider of every lifeboat TLS connection (ring: no C build).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS set-up that failed before any connection.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The root certificate file cannot be read or parsed.
    #[error("cannot read the CA file {path}: {source}")]
    ReadRoots {
        /// The file (`tls_ca_file`).
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The file holds no PEM certificate.
    #[error("the CA file {path} holds no PEM certificate")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A certificate of the file is not usable as a root.
    #[error("unusable root certificate in {path}: {source}")]
    BadRoot {
        /// The file.
        path: PathBuf,
        /// Why rustls refused it.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS: {0}")]
    Setup(#[source] rustls::Error),
    /// The verifier could not be built from the roots.
    #[error("cannot set up certificate verification: {0}")]
    Verifier(#[source] rustls::client::VerifierBuilderError),
}

/// The rustls error somewhere in `error`'s chain, looking inside `io::Error`s too (clients
/// wrap handshake failures in one), so a rejected certificate is recognised by type rather
/// than by its text.
pub fn find_rustls_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(inner) = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            if let Some(found) = find_rustls_error(inner) {
                return Some(found);
            }
        }
        next = current.source();
    }
    None
}

/// The certificate problem somewhere in `error`'s chain, if the handshake failed on the
/// server's certificate.
pub fn certificate_error<'a>(
    error: &'a (dyn Error + 'static),
) -> Option<&'a rustls::CertificateError> {
    match find_rustls_error(error)? {
        rustls::Error::InvalidCertificate(problem) => Some(problem),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_certificate_is_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        assert_eq!(
            certificate_error(&io),
            Some(&rustls::CertificateError::UnknownIssuer)
        );
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(certificate_error(&plain).is_none());
    }
}
