//! Test helpers: envelopes, a test CA (rcgen), free ports, relays aimed at a peer.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use envoi_types::{Address, Envelope, Sender};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_rustls::TlsAcceptor;

// ---- helpers ----

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

pub fn envelope(recipients: &[&str], message: &[u8]) -> Envelope {
    Envelope::new(
        Sender::parse("sender@src.test").unwrap(),
        recipients.iter().map(|r| addr(r)).collect(),
        message.to_vec(),
    )
}

pub const MESSAGE: &[u8] = b"Subject: test\r\n\r\nhello\r\n";

/// A test CA and a server certificate for `names`, signed by it.
pub struct TestCa {
    pub ca_der: Vec<u8>,
    pub acceptor: TlsAcceptor,
}

pub fn test_ca(names: &[&str]) -> TestCa {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    TestCa {
        ca_der: ca.der().to_vec(),
        acceptor: acceptor(&cert, &key),
    }
}

/// A STARTTLS acceptor presenting `cert` with its `key`.
pub fn acceptor(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// A port that was free a moment ago (for subprocess peers).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until something accepts connections on the port.
pub async fn wait_listening(port: u16) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Reads everything a reader gives (for subprocess output).
pub async fn read_all<R: AsyncRead + Unpin>(mut r: R) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = r.read_to_end(&mut out).await;
    out
}

// ---- relay helpers ----

use envoi_queue::{Delivery, Outcome, Relay};
use envoi_relay::{NextHop, RelayConfig, SmtpRelay, StaticResolver, Timeouts, TlsPolicy};

/// A relay whose smarthost is 127.0.0.1:port without TLS, 5 s timeouts, adjusted by `f`.
pub fn relay_to(port: u16, f: impl FnOnce(&mut RelayConfig)) -> SmtpRelay {
    let mut config =
        RelayConfig::smarthost(NextHop::smtp("127.0.0.1", port).with_tls(TlsPolicy::None));
    config.helo_name = "client.test".into();
    config.timeouts = Timeouts::all(Duration::from_secs(5));
    f(&mut config);
    SmtpRelay::new(config, Arc::new(StaticResolver::new())).unwrap()
}

/// One attempt; the per-recipient outcomes.
pub async fn attempt(relay: &SmtpRelay, envelope: &Envelope) -> Vec<Outcome> {
    match relay.attempt(envelope, 0).await.unwrap() {
        Delivery::PerRecipient(outcomes) => {
            assert_eq!(outcomes.len(), envelope.recipients.len());
            outcomes
        }
        Delivery::Whole(_) => panic!("relay answered Whole"),
    }
}

/// `code enhanced` of each outcome, e.g. `["250 2.0.0", "450 4.0.0"]`.
pub fn codes(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| format!("{} {}", o.reply.code, o.reply.enhanced))
        .collect()
}

/// The remote host the relay reports for 127.0.0.1:port.
pub fn remote(port: u16) -> Option<String> {
    Some(format!("127.0.0.1[127.0.0.1]:{port}"))
}
