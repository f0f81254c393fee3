//! Big transactions: refusals that RFC 5321 makes part of a normal transaction are not errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{assert_code, config, greeted, start};

/// RFC 5321 §4.5.3.1.10: past the recipient limit the client gets `452 4.5.3`, sends what was
/// accepted and the rest in later transactions. None of that may count toward `max_errors`.
#[tokio::test]
async fn a_thousand_pipelined_recipients_go_in_transactions_of_a_hundred() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    let mut remaining: Vec<usize> = (0..1000).collect();
    let mut transactions = 0;
    while !remaining.is_empty() {
        let mut batch = String::from("MAIL FROM:<a@src.test>\r\n");
        for i in &remaining {
            batch.push_str(&format!("RCPT TO:<r{i}@example.org>\r\n"));
        }
        batch.push_str("DATA\r\n");
        c.send(batch.as_bytes()).await;
        assert_code(&c.reply().await, "250 2.1.0");
        let mut refused = Vec::new();
        for i in remaining {
            let reply = c.reply().await;
            if reply == "452 4.5.3 Too many recipients\r\n" {
                refused.push(i);
            } else {
                assert_eq!(reply, "250 2.1.5 Recipient OK\r\n");
            }
        }
        assert_code(&c.reply().await, "354");
        c.send(b"Subject: many\r\n\r\nhello\r\n.\r\n").await;
        assert_code(&c.reply().await, "250 2.6.0");
        if transactions == 0 {
            assert_eq!(refused.len(), 900);
        }
        transactions += 1;
        remaining = refused;
    }
    assert_eq!(transactions, 10);
    assert_eq!(
        c.cmd("QUIT").await,
        "221 2.0.0 mx.test closing connection\r\n"
    );
    let stored = server.handoff.stored();
    let all: BTreeSet<String> = stored
        .iter()
        .flat_map(|e| e.recipients.iter().map(ToString::to_string))
        .collect();
    assert_eq!((stored.len(), all.len()), (10, 1000));
}

/// Refused recipients do not count, but a transaction that only draws refusals cannot go on
/// for ever: past `max_refused_recipients` each one counts toward `max_errors`.
#[tokio::test]
async fn endless_refused_recipients_end_in_too_many_errors() {
    let mut cfg = config();
    cfg.limits.max_refused_recipients = 20;
    cfg.limits.max_errors = 3;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<a@src.test>").await;
    let mut batch = String::new();
    for i in 0..30 {
        batch.push_str(&format!("RCPT TO:<r{i}@elsewhere.test>\r\n"));
    }
    c.send(batch.as_bytes()).await;
    for _ in 0..23 {
        assert_code(&c.reply().await, "554 5.7.1");
    }
    assert_eq!(
        c.rest().await,
        "421 4.7.0 mx.test Too many errors, closing connection\r\n"
    );
}

/// A storage failure is the server's trouble, never the client's error.
#[tokio::test]
async fn server_side_failures_do_not_count_as_client_errors() {
    let mut cfg = config();
    cfg.limits.max_errors = 2;
    let server = start(cfg).await;
    server.handoff.set_mode(common::Mode::Io);
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    for _ in 0..3 {
        c.cmd("MAIL FROM:<a@src.test>").await;
        c.cmd("RCPT TO:<b@example.org>").await;
        c.cmd("DATA").await;
        c.send(b"x\r\n.\r\n").await;
        assert_code(&c.reply().await, "451 4.3.0");
    }
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0 OK\r\n");
}
