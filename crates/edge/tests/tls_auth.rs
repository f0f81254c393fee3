//! STARTTLS, implicit TLS and AUTH, with a rustls client trusting an rcgen certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use base64::Engine;
use common::tls::{cert, settings, wrap, Users};
use common::{assert_code, config, greeted, start_with, Client};
use envoi_edge::{EdgeConfig, ListenMode, ServeError, Server, TlsError, TlsSettings};

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn tls_config(cert: &common::tls::TestCert) -> EdgeConfig {
    let mut cfg = config();
    cfg.tls = Some(settings(cert));
    cfg
}

#[tokio::test]
async fn starttls_upgrades_and_resets_the_session() {
    let cert = cert();
    let server = start_with(tls_config(&cert), ListenMode::Plain, |b| {
        b.authenticator(Arc::new(Users))
    })
    .await;
    let mut c = greeted(server.addr).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.contains("250-STARTTLS\r\n"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "AUTH offered in plaintext: {ehlo}");
    assert_eq!(
        c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==").await,
        "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    );
    assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0 Ready to start TLS\r\n");
    let mut t = Client::new(wrap(c.stream, &cert).await.unwrap());
    // EHLO state is gone after the handshake.
    assert_code(&t.cmd("MAIL FROM:<a@src.test>").await, "503 5.5.1");
    let ehlo = t.cmd("EHLO client.test").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(ehlo.contains("250-AUTH PLAIN LOGIN\r\n"), "{ehlo}");
    assert_code(&t.cmd("STARTTLS").await, "503 5.5.1");
    t.envelope("a@src.test", "b@example.org").await;
    t.cmd("DATA").await;
    t.send(b"x\r\n.\r\n").await;
    assert_code(&t.reply().await, "250 2.6.0");
    assert_eq!(server.handoff.stored()[0].client.protocol, "ESMTPS");
}

#[tokio::test]
async fn plaintext_pipelined_behind_starttls_is_discarded() {
    let cert = cert();
    let server = start_with(tls_config(&cert), ListenMode::Plain, |b| b).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@src.test>\r\nRCPT TO:<victim@example.org>\r\n")
        .await;
    assert_eq!(c.reply().await, "220 2.0.0 Ready to start TLS\r\n");
    let mut t = Client::new(wrap(c.stream, &cert).await.unwrap());
    let ehlo = t.cmd("EHLO client.test").await;
    assert!(
        ehlo.starts_with("250-mx.test greets client.test\r\n"),
        "{ehlo}"
    );
    // Had the injected MAIL run, this RCPT would be accepted.
    assert_code(&t.cmd("RCPT TO:<b@example.org>").await, "503 5.5.1");
}

#[tokio::test]
async fn auth_plain_under_tls_allows_relay() {
    let cert = cert();
    let server = start_with(tls_config(&cert), ListenMode::Plain, |b| {
        b.authenticator(Arc::new(Users))
    })
    .await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    c.cmd("STARTTLS").await;
    let mut t = Client::new(wrap(c.stream, &cert).await.unwrap());
    t.cmd("EHLO client.test").await;
    assert_code(&t.cmd("MAIL FROM:<a@src.test>").await, "250 2.1.0");
    assert_code(&t.cmd("RCPT TO:<far@elsewhere.test>").await, "554 5.7.1");
    assert_code(&t.cmd("AUTH PLAIN").await, "503 5.5.1");
    t.cmd("RSET").await;
    assert_eq!(
        t.cmd(&format!("AUTH PLAIN {}", b64("\0alice\0wrong")))
            .await,
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    assert_eq!(
        t.cmd(&format!("AUTH PLAIN {}", b64("\0alice\0secret")))
            .await,
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_code(&t.cmd("AUTH PLAIN").await, "503 5.5.1");
    t.envelope("a@src.test", "far@elsewhere.test").await;
    t.cmd("DATA").await;
    t.send(b"x\r\n.\r\n").await;
    assert_code(&t.reply().await, "250 2.6.0");
    let stored = server.handoff.stored();
    assert_eq!(stored[0].client.auth.as_deref(), Some("alice"));
    assert_eq!(stored[0].client.protocol, "ESMTPSA");
}

#[tokio::test]
async fn auth_exchanges_and_their_errors() {
    let mut cfg = config();
    cfg.auth.allow_plaintext = true;
    let server = start_with(cfg, ListenMode::Plain, |b| b.authenticator(Arc::new(Users))).await;
    let mut c = greeted(server.addr).await;
    assert!(c
        .cmd("EHLO client.test")
        .await
        .contains("250-AUTH PLAIN LOGIN\r\n"));
    assert_eq!(
        c.cmd("AUTH CRAM-MD5").await,
        "504 5.5.4 Unrecognized authentication type\r\n"
    );
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd("*").await, "501 5.7.0 Authentication cancelled\r\n");
    assert_eq!(c.cmd("AUTH PLAIN").await, "334 \r\n");
    assert_eq!(
        c.cmd("!!notbase64").await,
        "501 5.5.2 Cannot decode authentication response\r\n"
    );
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", b64("\0down\0x"))).await,
        "454 4.7.0 Temporary authentication failure\r\n"
    );
    assert_eq!(
        c.cmd(&format!("AUTH LOGIN {}", b64("alice"))).await,
        "334 UGFzc3dvcmQ6\r\n"
    );
    assert_eq!(
        c.cmd(&b64("secret")).await,
        "235 2.7.0 Authentication successful\r\n"
    );
    assert!(!c.cmd("EHLO client.test").await.contains("AUTH"));
}

#[tokio::test]
async fn implicit_tls_listener_speaks_tls_from_the_first_byte() {
    let cert = cert();
    let server = start_with(tls_config(&cert), ListenMode::ImplicitTls, |b| {
        b.authenticator(Arc::new(Users))
    })
    .await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut t = Client::new(wrap(stream, &cert).await.unwrap());
    assert!(t.reply().await.starts_with("220 mx.test "));
    let ehlo = t.cmd("EHLO client.test").await;
    assert!(
        !ehlo.contains("STARTTLS") && ehlo.contains("AUTH PLAIN LOGIN"),
        "{ehlo}"
    );
}

#[tokio::test]
async fn implicit_tls_needs_settings() {
    let server = Server::builder(config(), common::Recorder::new()).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = server
        .serve(listener, ListenMode::ImplicitTls, Default::default())
        .await;
    assert!(matches!(result, Err(ServeError::TlsNotConfigured)));
}

#[test]
fn tls_settings_from_pem() {
    let cert = cert();
    assert!(TlsSettings::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).is_ok());
    assert!(matches!(
        TlsSettings::from_pem(b"", cert.key_pem.as_bytes()),
        Err(TlsError::NoCertificate)
    ));
    assert!(matches!(
        TlsSettings::from_pem(cert.cert_pem.as_bytes(), b""),
        Err(TlsError::NoKey)
    ));
}
