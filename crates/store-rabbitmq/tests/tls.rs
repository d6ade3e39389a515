//! An `https://` management API: a TLS endpoint of the test's own (rustls, with a CA and a
//! server certificate made by rcgen) in front of the real management API. The right
//! `tls_ca_file` passes (backup and `restore --to` alike), no CA or another CA fails with a
//! certificate error found by type, and `tls_insecure` passes with its warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use backup_core::{Source, StoreError, StoreErrorKind, Target};
use lifeboat_testing::manifest;
use lifeboat_testing::rabbitmq::{TestBroker, URL};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::CertificateError;
use store_rabbitmq::{RabbitmqError, RabbitmqOptions, RabbitmqSource, RabbitmqTarget};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The management API the TLS endpoint forwards to.
const API_ADDR: &str = "127.0.0.1:15672";

/// A CA and a server certificate for 127.0.0.1 and localhost it signed.
struct Certs {
    dir: tempfile::TempDir,
    server: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Certs {
    /// Certificates whose CA is called `ca_name`.
    fn generate(ca_name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut server = CertificateParams::new(Vec::<String>::new()).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
        ];
        let cert = server.signed_by(&key, &ca_cert, &ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        Self {
            dir,
            server: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// A TLS endpoint on a free loopback port forwarding every connection to the management API;
/// stopped when dropped.
struct TlsProxy {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    async fn start(certs: &Certs) -> Self {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certs.server.clone()],
            PrivateKeyDer::Pkcs8(certs.key.clone_key()),
        )
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to do.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut api) = TcpStream::connect(API_ADDR).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut api).await;
                });
            }
        });
        Self { port, task }
    }

    fn url(&self, credentials: &str) -> String {
        format!("https://{credentials}127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The store's own error inside a `StoreError`.
fn rabbitmq_error(err: &StoreError) -> &RabbitmqError {
    err.inner().downcast_ref::<RabbitmqError>().unwrap()
}

/// A writer collecting the log lines of a tracing subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_right_ca_passes_and_restore_to_uses_it() {
    let Some(mut broker) = TestBroker::connect("tls").await else {
        return;
    };
    let certs = Certs::generate("lifeboat test CA");
    let proxy = TlsProxy::start(&certs).await;
    let vhost = broker.vhost("t").await;
    broker
        .put(
            &broker.object_path("queues", &vhost, "q"),
            serde_json::json!({"durable": true}),
        )
        .await;

    let mut options = RabbitmqOptions::new(proxy.url("guest:guest@").as_str());
    options.tls_ca_file = Some(certs.ca_file());
    options.vhosts = Some(vec![vhost.clone()]);
    let source = RabbitmqSource::new(options.clone()).unwrap();
    let preflight = source.preflight().await.unwrap();
    assert!(preflight.version.unwrap().starts_with("RabbitMQ "));
    let mut dump = Vec::new();
    let dumped = source.backup(&mut dump).await.unwrap();
    assert_eq!(dumped.metadata["counts"]["queues"], 1);

    // `restore --to https://...` checks the target's certificate with the same options.
    let mut plain = RabbitmqOptions::new(URL);
    plain.tls_ca_file = Some(certs.ca_file());
    let target = RabbitmqTarget::new(&plain, Some(&proxy.url(""))).unwrap();
    let m = manifest("rabbitmq", "rabbitmq-definitions", dumped.metadata);
    target
        .prepare(&m, &backup_core::RestoreOptions::default())
        .await
        .unwrap();
    assert!(target.describe().contains("https://guest@127.0.0.1"));
}

#[tokio::test]
async fn an_unknown_ca_is_a_certificate_error_found_by_type() {
    let Some(_broker) = TestBroker::connect("tlsca").await else {
        return;
    };
    let certs = Certs::generate("lifeboat test CA");
    let proxy = TlsProxy::start(&certs).await;
    let url = proxy.url("guest:guest@");
    // The built-in roots, and a CA that did not sign the server's certificate.
    let other = Certs::generate("another CA");
    for ca in [None, Some(other.ca_file())] {
        let mut options = RabbitmqOptions::new(url.as_str());
        options.tls_ca_file = ca.clone();
        let err = RabbitmqSource::new(options)
            .unwrap()
            .preflight()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Failed, "{err}");
        assert!(
            matches!(
                rabbitmq_error(&err),
                RabbitmqError::Certificate {
                    problem: CertificateError::UnknownIssuer,
                    ..
                }
            ),
            "{ca:?}: {:?}",
            rabbitmq_error(&err)
        );
        // The cause chain reaches rustls' own error.
        assert_eq!(
            lifeboat_edge::tls::certificate_error(err.inner()),
            Some(&CertificateError::UnknownIssuer)
        );
        let text = err.to_string();
        assert!(
            text.contains("certificate") && text.contains("tls_ca_file"),
            "{text}"
        );
        assert!(!text.contains("guest:guest"), "{text}");
    }
}

#[tokio::test]
async fn tls_insecure_accepts_any_certificate_and_says_so() {
    let Some(_broker) = TestBroker::connect("tlsinsecure").await else {
        return;
    };
    let certs = Certs::generate("lifeboat test CA");
    let proxy = TlsProxy::start(&certs).await;
    let mut options = RabbitmqOptions::new(proxy.url("guest:guest@").as_str());
    options.tls_insecure = true;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let source =
        tracing::subscriber::with_default(subscriber, || RabbitmqSource::new(options)).unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("WARN") && log.contains("tls_insecure") && log.contains("NOT verified"),
        "{log}"
    );
    assert!(!log.contains("guest:guest"), "{log}");
    source.preflight().await.unwrap();
}
