//! Byte-level sessions: the ordinary flow, each verb, the hand-off and its failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{assert_code, config, greeted, start, start_with, Mode};
use envoi_edge::{ListenMode, SessionInfo, Validator};
use envoi_types::{Address, EnhancedCode, Envelope, Reply, Sender};

#[tokio::test]
async fn ehlo_lists_extensions_without_tls_or_auth() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    let reply = c.cmd("EHLO client.test").await;
    assert_eq!(
        reply,
        format!(
            "250-mx.test greets client.test\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n\
             250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-DSN\r\n250 HELP\r\n",
            25 * 1024 * 1024
        )
    );
    assert_eq!(c.cmd("HELO client.test").await, "250 mx.test\r\n");
    assert_eq!(
        c.cmd("QUIT").await,
        "221 2.0.0 mx.test closing connection\r\n"
    );
    assert_eq!(c.rest().await, "");
}

#[tokio::test]
async fn message_is_handed_off_with_received_header_and_unstuffed() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.envelope("sender@src.test", "user@Example.ORG").await;
    assert_eq!(
        c.cmd("DATA").await,
        "354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    c.send(b"Subject: hi\r\n\r\n..dotted\r\nbody\r\n.\r\n")
        .await;
    let reply = c.reply().await;
    assert_code(&reply, "250 2.6.0");
    let stored = server.handoff.stored();
    assert_eq!(stored.len(), 1);
    let env = &stored[0];
    let id = reply.split(['<', '>']).nth(1).unwrap();
    assert!(id.parse::<envoi_types::QueueId>().is_ok(), "{reply}");
    assert!(
        reply.ends_with("> Message accepted for delivery\r\n"),
        "{reply}"
    );
    assert_eq!(env.sender, Sender::parse("sender@src.test").unwrap());
    assert_eq!(
        env.recipients,
        vec![Address::parse("user@Example.ORG").unwrap()]
    );
    assert_eq!(env.client.helo.as_deref(), Some("client.test"));
    assert_eq!(env.client.protocol, "ESMTP");
    assert_eq!(env.receiver, "mx.test");
    let text = String::from_utf8(env.message.as_bytes().to_vec()).unwrap();
    let (received, rest) = text.split_once("\r\n").unwrap();
    assert!(
        received.starts_with(
            "Received: from client.test ([127.0.0.1]) by mx.test (envoi) with ESMTP for <user@Example.ORG>; "
        ),
        "{received}"
    );
    assert_eq!(rest, "Subject: hi\r\n\r\n.dotted\r\nbody\r\n");
    // The session goes on: a second transaction works.
    assert_eq!(c.cmd("MAIL FROM:<>").await, "250 2.1.0 Sender OK\r\n");
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.send(
        b"EHLO client.test\r\nMAIL FROM:<a@src.test>\r\nRCPT TO:<b@example.org>\r\n\
          RCPT TO:<c@elsewhere.test>\r\nDATA\r\n",
    )
    .await;
    assert!(c.reply().await.starts_with("250-mx.test"));
    assert_eq!(c.reply().await, "250 2.1.0 Sender OK\r\n");
    assert_eq!(c.reply().await, "250 2.1.5 Recipient OK\r\n");
    assert_eq!(c.reply().await, "554 5.7.1 Relay access denied\r\n");
    assert_eq!(c.reply().await, "354 End data with <CR><LF>.<CR><LF>\r\n");
    c.send(b"x\r\n.\r\nQUIT\r\n").await;
    assert_code(&c.reply().await, "250 2.6.0");
    assert_code(&c.reply().await, "221 2.0.0");
    assert_eq!(server.handoff.stored()[0].recipients.len(), 1);
}

#[tokio::test]
async fn small_verbs() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    assert_eq!(c.cmd("NOOP anything").await, "250 2.0.0 OK\r\n");
    assert_code(&c.cmd("VRFY postmaster").await, "252 2.0.0");
    assert_code(&c.cmd("HELP").await, "214 2.0.0");
    assert_eq!(c.cmd("FROB").await, "500 5.5.1 Command unrecognized\r\n");
    assert_eq!(
        c.cmd("EXPN list").await,
        "502 5.5.1 Command not implemented\r\n"
    );
    assert_eq!(
        c.cmd("STARTTLS").await,
        "502 5.5.1 STARTTLS not available\r\n"
    );
    assert_eq!(
        c.cmd("AUTH PLAIN").await,
        "502 5.5.1 Command not implemented\r\n"
    );
    c.envelope("a@src.test", "b@example.org").await;
    assert_eq!(c.cmd("RSET").await, "250 2.0.0 OK\r\n");
    assert_code(&c.cmd("RCPT TO:<b@example.org>").await, "503 5.5.1");
    assert_code(&c.cmd("DATA").await, "503 5.5.1");
}

#[tokio::test]
async fn storage_full_is_452_and_failure_is_451_never_250() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    for (mode, expected) in [
        (
            Mode::Full,
            "452 4.3.1 Insufficient system storage, try again later\r\n",
        ),
        (
            Mode::Io,
            "451 4.3.0 Local error in processing, try again later\r\n",
        ),
    ] {
        server.handoff.set_mode(mode);
        c.envelope("a@src.test", "b@example.org").await;
        c.cmd("DATA").await;
        c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n").await;
        assert_eq!(c.reply().await, expected);
    }
    assert_eq!(server.handoff.calls(), 2);
    assert!(server.handoff.stored().is_empty());
}

#[tokio::test]
async fn bdat_chunks_make_one_message() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.send(b"BDAT 14\r\nSubject: x\r\n\r\nBDAT 9 LAST\r\n.body\r\n\r\n")
        .await;
    assert_eq!(c.reply().await, "250 2.0.0 14 octets received\r\n");
    assert_code(&c.reply().await, "250 2.6.0");
    let stored = server.handoff.stored();
    let message = stored[0].message.as_bytes();
    assert!(
        message.ends_with(b"\r\nSubject: x\r\n\r\n.body\r\n\r\n"),
        "{message:?}"
    );
    // DATA after BDAT is out of sequence.
    c.envelope("a@src.test", "b@example.org").await;
    c.send(b"BDAT 3\r\nabc").await;
    c.reply().await;
    assert_code(&c.cmd("DATA").await, "503 5.5.1");
}

#[tokio::test]
async fn bdat_without_transaction_discards_its_chunk() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    // The chunk holds a command; it must be swallowed, not run.
    c.send(b"BDAT 6\r\nQUIT\r\nNOOP\r\n").await;
    assert_code(&c.reply().await, "503 5.5.1");
    assert_eq!(c.reply().await, "250 2.0.0 OK\r\n");
}

#[tokio::test]
async fn utf8_addresses_need_smtputf8() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<jörg@src.test>").await,
        "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n"
    );
    assert_code(
        &c.cmd("MAIL FROM:<jörg@src.test> SMTPUTF8").await,
        "250 2.1.0",
    );
    assert_code(&c.cmd("RCPT TO:<zoë@example.org>").await, "250 2.1.5");
    c.cmd("DATA").await;
    c.send("Subject: ¡hola!\r\n\r\nx\r\n.\r\n".as_bytes()).await;
    assert_code(&c.reply().await, "250 2.6.0");
    assert_eq!(server.handoff.stored()[0].client.protocol, "UTF8SMTP");
}

#[tokio::test]
async fn trusted_network_may_relay() {
    let mut cfg = config();
    cfg.trusted_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "far@elsewhere.test").await;
}

/// Refuses at whatever stage the reply names.
struct Picky;

fn refusal(text: &str) -> Reply {
    Reply::new(550, EnhancedCode::new(5, 7, 1), text)
}

#[async_trait]
impl Validator for Picky {
    async fn ehlo(&self, _s: &SessionInfo, name: &str) -> Result<(), Reply> {
        if name == "bad.helo" {
            Err(refusal("no helo"))
        } else {
            Ok(())
        }
    }
    async fn mail(&self, _s: &SessionInfo, sender: &Sender) -> Result<(), Reply> {
        if sender.as_str() == "spam@src.test" {
            Err(refusal("no sender"))
        } else {
            Ok(())
        }
    }
    async fn rcpt(&self, _s: &SessionInfo, rcpt: &Address) -> Result<(), Reply> {
        if rcpt.local_part() == "nobody" {
            Err(refusal("no rcpt"))
        } else {
            Ok(())
        }
    }
    async fn data(&self, _s: &SessionInfo, env: &Envelope) -> Result<(), Reply> {
        if env.message.header("subject").as_deref() == Some("viagra") {
            Err(refusal("no data"))
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn validator_hooks_refuse_at_each_stage() {
    let server = start_with(config(), ListenMode::Plain, |b| {
        b.validator(Arc::new(Picky))
    })
    .await;
    let mut c = greeted(server.addr).await;
    assert_eq!(c.cmd("EHLO bad.helo").await, "550 5.7.1 no helo\r\n");
    assert!(c.cmd("EHLO good.helo").await.starts_with("250-"));
    assert_eq!(
        c.cmd("MAIL FROM:<spam@src.test>").await,
        "550 5.7.1 no sender\r\n"
    );
    assert_code(&c.cmd("MAIL FROM:<ok@src.test>").await, "250 2.1.0");
    assert_eq!(
        c.cmd("RCPT TO:<nobody@example.org>").await,
        "550 5.7.1 no rcpt\r\n"
    );
    assert_code(&c.cmd("RCPT TO:<user@example.org>").await, "250 2.1.5");
    c.cmd("DATA").await;
    c.send(b"Subject: viagra\r\n\r\nx\r\n.\r\n").await;
    assert_eq!(c.reply().await, "550 5.7.1 no data\r\n");
    assert!(server.handoff.stored().is_empty());
}

struct NoConnect;

#[async_trait]
impl Validator for NoConnect {
    async fn connect(&self, _s: &SessionInfo) -> Result<(), Reply> {
        Err(Reply::new(554, EnhancedCode::new(5, 7, 1), "go away"))
    }
}

#[tokio::test]
async fn validator_connect_hook_replaces_banner() {
    let server = start_with(config(), ListenMode::Plain, |b| {
        b.validator(Arc::new(NoConnect))
    })
    .await;
    let mut c = common::connect(server.addr).await;
    assert_eq!(c.rest().await, "554 5.7.1 go away\r\n");
}
