//! The DSN extension (RFC 3461) at the edge: `DSN` is advertised, `RET` and `ENVID` on MAIL
//! and `NOTIFY` and `ORCPT` on RCPT are accepted in every combination (xtext decoded) and
//! stored with the envelope, and bad syntax gets `501 5.5.4` naming the parameter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_code, greeted, start, Client};
use envoi_edge::EdgeConfig;
use envoi_types::{DsnRequest, Notify, OriginalRecipient, RecipientDsn, Ret};
use tokio::net::TcpStream;

/// The tests' configuration, with room for every refusal in one session.
fn config() -> EdgeConfig {
    let mut config = common::config();
    config.limits.max_errors = 50;
    config
}

async fn ehlo(c: &mut Client<TcpStream>) {
    let reply = c.cmd("EHLO client.test").await;
    assert!(reply.contains("\r\n250-DSN\r\n"), "{reply}");
}

async fn send_message(c: &mut Client<TcpStream>, mail: &str, rcpts: &[&str]) {
    assert_eq!(c.cmd(mail).await, "250 2.1.0 Sender OK\r\n", "{mail}");
    for rcpt in rcpts {
        assert_eq!(c.cmd(rcpt).await, "250 2.1.5 Recipient OK\r\n", "{rcpt}");
    }
    assert_code(&c.cmd("DATA").await, "354");
    c.send(b"Subject: x\r\n\r\nhi\r\n.\r\n").await;
    assert_code(&c.reply().await, "250 2.6.0");
}

fn rcpt(address: &str, notify: Option<Notify>, orcpt: Option<(&str, &str)>) -> RecipientDsn {
    RecipientDsn {
        recipient: address.parse().unwrap(),
        notify,
        orcpt: orcpt.map(|(address_type, address)| OriginalRecipient {
            address_type: address_type.into(),
            address: address.into(),
        }),
    }
}

fn notify(success: bool, failure: bool, delay: bool) -> Option<Notify> {
    Some(Notify {
        success,
        failure,
        delay,
    })
}

#[tokio::test]
async fn every_parameter_combination_is_stored_decoded() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    ehlo(&mut c).await;
    send_message(
        &mut c,
        "MAIL FROM:<a@src.test> RET=HDRS ENVID=QQ+2B314+3D",
        &[
            "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;b+2Bx@example.org",
            "RCPT TO:<c@example.org> NOTIFY=never",
            "RCPT TO:<d@example.org> orcpt=rfc822;D@Example.org notify=delay",
            "RCPT TO:<e@example.org>",
            "RCPT TO:<f@example.org> NOTIFY=FAILURE,SUCCESS",
        ],
    )
    .await;
    send_message(
        &mut c,
        "MAIL FROM:<a@src.test> ret=full",
        &["RCPT TO:<b@example.org>"],
    )
    .await;
    send_message(
        &mut c,
        "MAIL FROM:<a@src.test> ENVID=x",
        &["RCPT TO:<b@example.org>"],
    )
    .await;
    send_message(
        &mut c,
        "MAIL FROM:<a@src.test>",
        &["RCPT TO:<b@example.org>"],
    )
    .await;
    let stored: Vec<DsnRequest> = server.handoff.stored().into_iter().map(|e| e.dsn).collect();
    assert_eq!(
        stored[0],
        DsnRequest {
            ret: Some(Ret::Headers),
            envid: Some("QQ+314=".into()),
            recipients: vec![
                rcpt(
                    "b@example.org",
                    notify(true, true, true),
                    Some(("rfc822", "b+x@example.org"))
                ),
                rcpt("c@example.org", Some(Notify::NEVER), None),
                rcpt(
                    "d@example.org",
                    notify(false, false, true),
                    Some(("rfc822", "D@Example.org"))
                ),
                rcpt("f@example.org", notify(true, true, false), None),
            ],
        }
    );
    assert_eq!(
        stored[1],
        DsnRequest {
            ret: Some(Ret::Full),
            ..DsnRequest::default()
        }
    );
    assert_eq!(
        stored[2],
        DsnRequest {
            envid: Some("x".into()),
            ..DsnRequest::default()
        }
    );
    assert_eq!(stored[3], DsnRequest::default());
}

#[tokio::test]
async fn bad_mail_parameters_get_exact_replies() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    ehlo(&mut c).await;
    let ret = "501 5.5.4 Syntax: RET=FULL|HDRS\r\n";
    let envid = "501 5.5.4 Syntax: ENVID=xtext\r\n";
    let long_envid = format!("MAIL FROM:<a@src.test> ENVID={}", "x".repeat(101));
    for (mail, expected) in [
        ("MAIL FROM:<a@src.test> RET=BODY", ret),
        ("MAIL FROM:<a@src.test> RET", ret),
        ("MAIL FROM:<a@src.test> RET=", ret),
        ("MAIL FROM:<a@src.test> RET=FULL RET=HDRS", ret),
        ("MAIL FROM:<a@src.test> ENVID=", envid),
        ("MAIL FROM:<a@src.test> ENVID", envid),
        ("MAIL FROM:<a@src.test> ENVID=a=b", envid),
        ("MAIL FROM:<a@src.test> ENVID=a+4", envid),
        ("MAIL FROM:<a@src.test> ENVID=a+0D+0Ab", envid),
        ("MAIL FROM:<a@src.test> ENVID=x ENVID=y", envid),
        (long_envid.as_str(), envid),
    ] {
        assert_eq!(c.cmd(mail).await, expected, "{mail}");
    }
    // The session goes on: a good MAIL is taken after the refusals.
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<a@src.test> ENVID={}", "x".repeat(100)))
            .await,
        "250 2.1.0 Sender OK\r\n"
    );
}

#[tokio::test]
async fn bad_rcpt_parameters_get_exact_replies() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    ehlo(&mut c).await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@src.test>").await,
        "250 2.1.0 Sender OK\r\n"
    );
    let notify = "501 5.5.4 Syntax: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY\r\n";
    let orcpt = "501 5.5.4 Syntax: ORCPT=addr-type;xtext\r\n";
    for (params, expected) in [
        ("NOTIFY=NEVER,SUCCESS", notify),
        ("NOTIFY=SOMETIMES", notify),
        ("NOTIFY=", notify),
        ("NOTIFY", notify),
        ("NOTIFY=SUCCESS,", notify),
        ("NOTIFY=DELAY,DELAY", notify),
        ("NOTIFY=NEVER NOTIFY=NEVER", notify),
        ("ORCPT=b@example.org", orcpt),
        ("ORCPT=rfc822;", orcpt),
        ("ORCPT=;b@example.org", orcpt),
        ("ORCPT=rfc822;b+zz@example.org", orcpt),
        ("ORCPT=rfc822;b=c@example.org", orcpt),
        ("ORCPT=rfc822;b+0A@example.org", orcpt),
        ("ORCPT=rfc822;a@x ORCPT=rfc822;b@x", orcpt),
        ("XFOO=1", "555 5.5.4 Parameter XFOO not supported\r\n"),
    ] {
        let line = format!("RCPT TO:<b@example.org> {params}");
        assert_eq!(c.cmd(&line).await, expected, "{line}");
    }
    // None of the refused recipients was added; a good one still is.
    assert_eq!(
        c.cmd("RCPT TO:<b@example.org> NOTIFY=NEVER").await,
        "250 2.1.5 Recipient OK\r\n"
    );
    assert_code(&c.cmd("DATA").await, "354");
    c.send(b"Subject: x\r\n\r\nhi\r\n.\r\n").await;
    assert_code(&c.reply().await, "250 2.6.0");
    let stored = server.handoff.stored();
    assert_eq!(stored[0].recipients.len(), 1);
    assert_eq!(
        stored[0].dsn.notify(&stored[0].recipients[0]),
        Notify::NEVER
    );
}
