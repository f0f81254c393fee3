//! What an operator reads of a session: one log line for connect, TLS, AUTH, each refusal
//! and disconnect, with the client's text escaped and passwords never written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use base64::Engine;
use common::log::Captured;
use common::tls::{cert, settings, wrap, Users};
use common::{config, greeted, start_with, Client};
use envoi_edge::ListenMode;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn a_session_is_logged_line_by_line_without_raw_control_characters() {
    let log = Captured::default();
    let _guard = log.install();
    let cert = cert();
    let mut cfg = config();
    cfg.tls = Some(settings(&cert));
    let server = start_with(cfg, ListenMode::Plain, |b| b.authenticator(Arc::new(Users))).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    c.cmd("STARTTLS").await;
    let mut t = Client::new(wrap(c.stream, &cert).await.unwrap());
    t.cmd("EHLO client.test").await;
    let wrong = b64("\0mallory\x1b]0;owned\x07\0hunter2");
    assert_eq!(
        t.cmd(&format!("AUTH PLAIN {wrong}")).await,
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    let right = b64("\0alice\0secret");
    t.cmd(&format!("AUTH PLAIN {right}")).await;
    t.cmd("MAIL FROM:<a@src.test>").await;
    t.cmd("RCPT TO:<b@example.org>").await;
    t.cmd("DATA").await;
    t.send(b"x\r\n.\r\n").await;
    t.reply().await;
    assert_eq!(t.cmd("FROB").await, "500 5.5.1 Command unrecognized\r\n");
    t.cmd("QUIT").await;
    t.rest().await;
    // The session task logs its last line after closing: wait for it, boundedly.
    for _ in 0..200 {
        if !log.lines("disconnect").is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let text = log.text();
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "a raw control character reached the log:\n{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("secret"),
        "{text}"
    );

    let connect = log.lines("connect");
    assert_eq!(connect.len(), 1, "{text}");
    assert!(
        connect[0].contains("client=unknown[127.0.0.1] port="),
        "{}",
        connect[0]
    );
    let tls = log.lines("tls");
    assert_eq!(tls.len(), 1, "{text}");
    assert!(
        tls[0].contains("version=\"TLSv1.3\" cipher=\"TLS13_"),
        "{}",
        tls[0]
    );
    let auth = log.lines("auth");
    assert_eq!(auth.len(), 2, "{text}");
    assert!(
        auth[0].contains("mechanism=\"PLAIN\" user=mallory\\x1b]0;owned\\x07 outcome=\"rejected\""),
        "{}",
        auth[0]
    );
    assert!(
        auth[1].contains("user=alice outcome=\"accepted\""),
        "{}",
        auth[1]
    );
    let refused = log.lines("refused");
    assert_eq!(refused.len(), 2, "{text}");
    assert!(
        refused[0].contains("stage=\"auth\" code=535 dsn=\"5.7.8\" helo=client.test from=none to=none reason=Authentication credentials invalid"),
        "{}",
        refused[0]
    );
    assert!(
        refused[1].contains("stage=\"command\" code=500 dsn=\"5.5.1\""),
        "{}",
        refused[1]
    );
    let disconnect = log.lines("disconnect");
    assert_eq!(disconnect.len(), 1, "{text}");
    for part in [
        "helo=client.test",
        "commands=10",
        "messages=1",
        "errors=2",
        "reason=\"quit\"",
    ] {
        assert!(
            disconnect[0].contains(part),
            "{part} not in {}",
            disconnect[0]
        );
    }
}

#[tokio::test]
async fn a_refused_rcpt_names_sender_and_recipient() {
    let log = Captured::default();
    let _guard = log.install();
    let server = start_with(config(), ListenMode::Plain, |b| b).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<a@src.test>").await;
    c.cmd("RCPT TO:<b@elsewhere.test>").await;
    let refused = log.lines("refused");
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].contains(
            "stage=\"rcpt\" code=554 dsn=\"5.7.1\" helo=client.test from=<a@src.test> to=b@elsewhere.test reason=Relay access denied"
        ),
        "{}",
        refused[0]
    );
}
