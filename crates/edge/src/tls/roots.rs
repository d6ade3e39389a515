//! Trusted root certificates: a PEM file (`tls_ca_file`) or webpki's Mozilla roots.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use super::TlsError;

/// The certificates of a PEM file as a root store; a file without any is an error.
pub fn roots_from_pem_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let read_err = |source| TlsError::ReadRoots {
        path: path.to_path_buf(),
        source,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(read_err)? {
        roots
            .add(cert.map_err(read_err)?)
            .map_err(|source| TlsError::BadRoot {
                path: path.to_path_buf(),
                source,
            })?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(roots)
}

/// The Mozilla roots compiled in (webpki-roots).
pub fn webpki_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_and_empty_files_are_clear_errors() {
        let err = roots_from_pem_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = roots_from_pem_file(&empty).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        assert!(!webpki_roots().is_empty());
    }
}
