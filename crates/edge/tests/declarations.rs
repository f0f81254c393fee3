//! The envelope records what the client declared: SMTPUTF8, `BODY=`, the TLS session (version
//! and cipher) and the AUTH identity, per transaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::tls::{cert, settings, wrap, Users};
use common::{assert_code, config, greeted, start, start_with, Client};
use envoi_edge::{EdgeConfig, ListenMode};
use envoi_types::{BodyType, ClientInfo};

fn tls_config(cert: &common::tls::TestCert) -> EdgeConfig {
    let mut cfg = config();
    cfg.tls = Some(settings(cert));
    cfg
}

async fn message<S>(c: &mut Client<S>, mail: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    assert_code(&c.cmd(mail).await, "250 2.1.0");
    assert_code(&c.cmd("RCPT TO:<b@example.org>").await, "250 2.1.5");
    assert_code(&c.cmd("DATA").await, "354");
    c.send(b"Subject: x\r\n\r\nhi\r\n.\r\n").await;
    assert_code(&c.reply().await, "250 2.6.0");
}

#[tokio::test]
async fn smtputf8_and_body_are_recorded_per_transaction() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    message(&mut c, "MAIL FROM:<a@src.test> BODY=8BITMIME SMTPUTF8").await;
    message(&mut c, "MAIL FROM:<a@src.test> body=7bit").await;
    message(&mut c, "MAIL FROM:<a@src.test>").await;
    let clients: Vec<ClientInfo> = server
        .handoff
        .stored()
        .into_iter()
        .map(|e| e.client)
        .collect();
    let declared: Vec<(bool, BodyType)> = clients.iter().map(|c| (c.smtputf8, c.body)).collect();
    assert_eq!(
        declared,
        [
            (true, BodyType::EightBitMime),
            (false, BodyType::SevenBit),
            (false, BodyType::Undeclared)
        ]
    );
    assert!(clients.iter().all(|c| c.tls.is_none()));
}

#[tokio::test]
async fn bdat_records_the_declared_body() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    assert_code(
        &c.cmd("MAIL FROM:<a@src.test> BODY=8BITMIME").await,
        "250 2.1.0",
    );
    assert_code(&c.cmd("RCPT TO:<b@example.org>").await, "250 2.1.5");
    c.send(b"BDAT 18 LAST\r\nSubject: x\r\n\r\nhi\r\n").await;
    assert_code(&c.reply().await, "250 2.6.0");
    assert_eq!(
        server.handoff.stored()[0].client.body,
        BodyType::EightBitMime
    );
}

#[tokio::test]
async fn the_tls_session_and_auth_identity_are_recorded() {
    let cert = cert();
    let server = start_with(tls_config(&cert), ListenMode::Plain, |b| {
        b.authenticator(Arc::new(Users))
    })
    .await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0 Ready to start TLS\r\n");
    let mut t = Client::new(wrap(c.stream, &cert).await.unwrap());
    t.cmd("EHLO client.test").await;
    assert_code(&t.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==").await, "235 2.7.0");
    message(&mut t, "MAIL FROM:<a@src.test>").await;
    let client = server.handoff.stored()[0].client.clone();
    assert_eq!(client.auth.as_deref(), Some("alice"));
    let tls = client.tls.expect("TLS recorded");
    assert_eq!(tls.version, "TLSv1.3");
    assert!(tls.cipher.starts_with("TLS13_"), "{}", tls.cipher);
}

#[tokio::test]
async fn implicit_tls_is_recorded() {
    let cert = cert();
    let server = start_with(tls_config(&cert), ListenMode::ImplicitTls, |b| b).await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut t = Client::new(wrap(stream, &cert).await.unwrap());
    assert!(t.reply().await.starts_with("220 mx.test "));
    t.cmd("EHLO client.test").await;
    message(&mut t, "MAIL FROM:<a@src.test>").await;
    let tls = server.handoff.stored()[0].client.tls.clone();
    assert_eq!(tls.map(|t| t.version).as_deref(), Some("TLSv1.3"));
}
