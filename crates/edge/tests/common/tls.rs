//! A test certificate (rcgen) and a TLS client that trusts it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use envoi_edge::{AuthVerdict, Authenticator, TlsSettings};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

pub fn cert() -> TestCert {
    let certified = rcgen::generate_simple_self_signed(vec!["mx.test".to_owned()]).unwrap();
    TestCert {
        cert_pem: certified.cert.pem(),
        key_pem: certified.key_pair.serialize_pem(),
        der: certified.cert.der().clone(),
        key_der: certified.key_pair.serialize_der(),
    }
}

pub fn settings(cert: &TestCert) -> TlsSettings {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
    TlsSettings::from_der(vec![cert.der.clone()], key).unwrap()
}

pub async fn wrap(stream: TcpStream, cert: &TestCert) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    connector
        .connect(ServerName::try_from("mx.test").unwrap(), stream)
        .await
}

/// alice/secret is accepted; user "down" makes the backend fail.
pub struct Users;

#[async_trait]
impl Authenticator for Users {
    async fn check(&self, authzid: &str, username: &str, password: &str) -> AuthVerdict {
        match (authzid, username, password) {
            ("" | "alice", "alice", "secret") => AuthVerdict::Accepted("alice".to_owned()),
            (_, "down", _) => AuthVerdict::Unavailable,
            _ => AuthVerdict::Rejected,
        }
    }
}
