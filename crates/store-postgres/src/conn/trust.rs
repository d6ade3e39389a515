//! The system's trust store, for `verify-ca` / `verify-full` without a root file: the same CA
//! bundle file for lifeboat's connections and (as `PGSSLROOTCERT`) for the client tools, so
//! both trust the same roots. libpq would otherwise look for `~/.postgresql/root.crt`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// The system's trust store, loaded once: the CA bundle file the client tools get too, else
/// what `rustls-native-certs` finds, else webpki's roots.
pub(super) fn system_roots() -> Arc<RootCertStore> {
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
                roots = lifeboat_edge::tls::webpki_roots();
            }
            Arc::new(roots)
        })
        .clone()
}

/// The system's CA bundle file for the client tools: `SSL_CERT_FILE`, else the usual
/// locations (Debian/Ubuntu, RHEL/Fedora, Alpine/macOS).
pub(super) fn system_bundle_path() -> Option<PathBuf> {
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
