//! Hostile input: each rule for malformed, out-of-sequence or over-limit input with its exact
//! reply (docs/architecture.md, section 5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_code, config, greeted, start};

#[tokio::test]
async fn command_line_over_512_octets_is_500_5_5_2() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    // 510 octets + CRLF = 512: accepted.
    let ok = format!("NOOP {}", "x".repeat(505));
    assert_eq!(ok.len(), 510);
    assert_eq!(c.cmd(&ok).await, "250 2.0.0 OK\r\n");
    let long = format!("NOOP {}", "x".repeat(506));
    assert_eq!(c.cmd(&long).await, "500 5.5.2 Line too long\r\n");
    // Far over the reader's buffer: dropped as it arrives, answered once.
    let huge = format!("NOOP {}", "x".repeat(100_000));
    assert_eq!(c.cmd(&huge).await, "500 5.5.2 Line too long\r\n");
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0 OK\r\n");
}

#[tokio::test]
async fn nul_and_invalid_utf8_are_501_5_5_2() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.send(b"NOOP\0\r\n").await;
    assert_eq!(
        c.reply().await,
        "501 5.5.2 NUL or invalid UTF-8 in command\r\n"
    );
    c.send(b"EHLO \xff\xfe\r\n").await;
    assert_eq!(
        c.reply().await,
        "501 5.5.2 NUL or invalid UTF-8 in command\r\n"
    );
}

#[tokio::test]
async fn bare_lf_or_cr_in_a_command_is_refused() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.send(b"NOOP\n").await;
    assert_eq!(
        c.reply().await,
        "500 5.5.2 Bare CR or LF not allowed, use CRLF\r\n"
    );
    c.send(b"NO\rOP\r\n").await;
    assert_eq!(
        c.reply().await,
        "500 5.5.2 Bare CR or LF not allowed, use CRLF\r\n"
    );
}

#[tokio::test]
async fn bad_address_syntax() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:a@src.test").await,
        "501 5.1.3 Bad address syntax\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@src.test").await,
        "501 5.1.3 Bad address syntax\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a b@src.test>").await,
        "553 5.1.3 Mailbox name not allowed\r\n"
    );
    assert_code(&c.cmd("MAIL").await, "501 5.5.4");
    assert_code(&c.cmd("MAIL FROM:<a@src.test>").await, "250 2.1.0");
    assert_eq!(
        c.cmd("RCPT TO:<nodomain>").await,
        "553 5.1.3 Mailbox name not allowed\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<x@bad..domain>").await,
        "553 5.1.3 Mailbox name not allowed\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:x@example.org").await,
        "501 5.1.3 Bad address syntax\r\n"
    );
}

#[tokio::test]
async fn unknown_parameters_are_555_5_5_4() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@src.test> FOO=1").await,
        "555 5.5.4 Parameter FOO not supported\r\n"
    );
    assert_code(
        &c.cmd("MAIL FROM:<a@src.test> BODY=BINARYMIME").await,
        "555 5.5.4",
    );
    assert_code(
        &c.cmd("MAIL FROM:<a@src.test> BODY=8BITMIME SIZE=10").await,
        "250 2.1.0",
    );
    assert_eq!(
        c.cmd("RCPT TO:<b@example.org> XDSN=1").await,
        "555 5.5.4 Parameter XDSN not supported\r\n"
    );
}

#[tokio::test]
async fn sequencing_errors_are_503_5_5_1() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    assert_code(&c.cmd("MAIL FROM:<a@src.test>").await, "503 5.5.1");
    c.cmd("EHLO client.test").await;
    assert_code(&c.cmd("RCPT TO:<b@example.org>").await, "503 5.5.1");
    assert_code(&c.cmd("DATA").await, "503 5.5.1");
    assert_code(&c.cmd("MAIL FROM:<a@src.test>").await, "250 2.1.0");
    assert_code(&c.cmd("MAIL FROM:<a@src.test>").await, "503 5.5.1");
    assert_code(&c.cmd("DATA").await, "503 5.5.1");
}

#[tokio::test]
async fn relay_is_refused_with_554_5_7_1() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<a@src.test>").await;
    assert_eq!(
        c.cmd("RCPT TO:<b@elsewhere.test>").await,
        "554 5.7.1 Relay access denied\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<b@sub.example.org>").await,
        "554 5.7.1 Relay access denied\r\n"
    );
    // RFC 5321 §4.5.1: the bare Postmaster is always accepted, as this host's postmaster.
    assert_code(&c.cmd("RCPT TO:<PostMaster>").await, "250 2.1.5");
    c.cmd("DATA").await;
    c.send(b"x\r\n.\r\n").await;
    assert_code(&c.reply().await, "250 2.6.0");
    assert_eq!(
        server.handoff.stored()[0].recipients[0].as_str(),
        "postmaster@mx.test"
    );
}

#[tokio::test]
async fn declared_size_over_limit_is_552_5_3_4_at_mail() {
    let mut cfg = config();
    cfg.limits.max_message_size = 1000;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@src.test> SIZE=1001").await,
        "552 5.3.4 Message size exceeds fixed limit\r\n"
    );
    assert_code(
        &c.cmd("MAIL FROM:<a@src.test> SIZE=99999999999999999999999")
            .await,
        "552 5.3.4",
    );
    assert_code(
        &c.cmd("MAIL FROM:<a@src.test> SIZE=1000").await,
        "250 2.1.0",
    );
}

#[tokio::test]
async fn undeclared_overflow_is_552_5_3_4_and_the_rest_is_never_commands() {
    let mut cfg = config();
    cfg.limits.max_message_size = 100;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    let mut body = "x".repeat(150);
    body.push_str("\r\nRSET\r\nMAIL FROM:<evil@src.test>\r\nQUIT\r\n.\r\nNOOP\r\n");
    c.send(body.as_bytes()).await;
    assert_eq!(
        c.reply().await,
        "552 5.3.4 Message size exceeds fixed limit\r\n"
    );
    assert_eq!(c.reply().await, "250 2.0.0 OK\r\n");
    assert!(server.handoff.stored().is_empty());
    // The transaction is over.
    assert_code(&c.cmd("RCPT TO:<b@example.org>").await, "503 5.5.1");
}

#[tokio::test]
async fn bdat_overflow_is_552_5_3_4_and_later_chunks_are_swallowed() {
    let mut cfg = config();
    cfg.limits.max_message_size = 10;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.send(b"BDAT 8\r\n12345678BDAT 8 LAST\r\nQUIT\r\n\r\nNOOP\r\n")
        .await;
    assert_eq!(c.reply().await, "250 2.0.0 8 octets received\r\n");
    assert_eq!(
        c.reply().await,
        "552 5.3.4 Message size exceeds fixed limit\r\n"
    );
    assert_eq!(c.reply().await, "250 2.0.0 OK\r\n");
    assert!(server.handoff.stored().is_empty());
}

#[tokio::test]
async fn too_many_recipients_is_452_4_5_3() {
    let mut cfg = config();
    cfg.limits.max_recipients = 2;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b1@example.org").await;
    assert_code(&c.cmd("RCPT TO:<b2@example.org>").await, "250 2.1.5");
    assert_eq!(
        c.cmd("RCPT TO:<b3@example.org>").await,
        "452 4.5.3 Too many recipients\r\n"
    );
    c.cmd("DATA").await;
    c.send(b"x\r\n.\r\n").await;
    assert_code(&c.reply().await, "250 2.6.0");
    assert_eq!(server.handoff.stored()[0].recipients.len(), 2);
}

#[tokio::test]
async fn too_many_received_headers_is_554_5_4_6() {
    let mut cfg = config();
    cfg.limits.max_received_headers = 3;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    // Two earlier hops plus ours make three: still fine.
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    c.send(b"Received: from a\r\nReceived: from b\r\n\r\nx\r\n.\r\n")
        .await;
    assert_code(&c.reply().await, "250 2.6.0");
    c.cmd("MAIL FROM:<a@src.test>").await;
    c.cmd("RCPT TO:<b@example.org>").await;
    c.cmd("DATA").await;
    c.send(b"Received: from a\r\nReceived: from b\r\nReceived: from c\r\n\r\nx\r\n.\r\n")
        .await;
    assert_eq!(
        c.reply().await,
        "554 5.4.6 Too many Received headers: mail loop detected\r\n"
    );
    assert_eq!(server.handoff.stored().len(), 1);
}

#[tokio::test]
async fn text_line_over_1000_octets_refuses_the_message() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    let body = format!("{}\r\n.\r\n", "y".repeat(999));
    c.send(body.as_bytes()).await;
    assert_eq!(
        c.reply().await,
        "554 5.6.0 Message refused: line longer than 1000 octets\r\n"
    );
    assert!(server.handoff.stored().is_empty());
}

#[tokio::test]
async fn too_many_errors_is_421_and_close() {
    let mut cfg = config();
    cfg.limits.max_errors = 3;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.send(b"FROB\r\nFROB\r\nFROB\r\nNOOP\r\n").await;
    assert_code(&c.reply().await, "500 5.5.1");
    assert_code(&c.reply().await, "500 5.5.1");
    assert_code(&c.reply().await, "500 5.5.1");
    assert_eq!(
        c.rest().await,
        "421 4.7.0 mx.test Too many errors, closing connection\r\n"
    );
}

#[tokio::test]
async fn an_unquoted_local_part_with_at_is_553_5_1_3() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@b@src.test>").await,
        "553 5.1.3 Mailbox name not allowed\r\n"
    );
    assert_code(&c.cmd("MAIL FROM:<a@src.test>").await, "250 2.1.0");
    // Never taken as a recipient at the last domain, which this server receives for.
    for path in [
        "x@elsewhere.test@example.org",
        "x@example.org@example.org",
        "a..b@example.org",
        ".a@example.org",
        "a.@example.org",
        "\"unterminated@example.org",
        "@relay.test:",
        "@:u@example.org",
        "@relay..test:u@example.org",
    ] {
        assert_eq!(
            c.cmd(&format!("RCPT TO:<{path}>")).await,
            "553 5.1.3 Mailbox name not allowed\r\n",
            "{path}"
        );
    }
}

#[tokio::test]
async fn quoted_local_parts_literals_and_source_routes_keep_working() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    assert_code(&c.cmd("MAIL FROM:<u@[192.0.2.1]>").await, "250 2.1.0");
    for path in [
        "\"a@b\"@example.org",
        "\"a b\\\"c\"@example.org",
        "@relay.test,@[192.0.2.1]:route@example.org",
        "first.last+tag@example.org",
    ] {
        assert_code(&c.cmd(&format!("RCPT TO:<{path}>")).await, "250 2.1.5");
    }
    // Relay control judges the final domain, after any quoted `@`.
    assert_eq!(
        c.cmd("RCPT TO:<\"x@example.org\"@elsewhere.test>").await,
        "554 5.7.1 Relay access denied\r\n"
    );
    c.cmd("DATA").await;
    c.send(b"x\r\n.\r\n").await;
    assert_code(&c.reply().await, "250 2.6.0");
    let stored = server.handoff.stored();
    let recipients: Vec<String> = stored[0]
        .recipients
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        recipients,
        [
            "\"a@b\"@example.org",
            "\"a b\\\"c\"@example.org",
            "route@example.org",
            "first.last+tag@example.org"
        ]
    );
}

#[tokio::test]
async fn a_dot_stuffed_line_of_998_octets_is_accepted() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    // 998 octets of content that start with a dot: 999 on the wire with the stuffing dot.
    let line = format!(".{}", "z".repeat(997));
    c.send(format!(".{line}\r\n.\r\n").as_bytes()).await;
    assert_code(&c.reply().await, "250 2.6.0");
    let stored = server.handoff.stored();
    assert!(stored[0]
        .message
        .as_bytes()
        .ends_with(format!("\r\n{line}\r\n").as_bytes()));
}

#[tokio::test]
async fn the_text_line_limit_is_configurable() {
    let mut cfg = config();
    cfg.limits.max_line_length = 100;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    c.send(format!("{}\r\n.\r\n", "y".repeat(98)).as_bytes())
        .await;
    assert_code(&c.reply().await, "250 2.6.0");
    c.cmd("MAIL FROM:<a@src.test>").await;
    c.cmd("RCPT TO:<b@example.org>").await;
    c.cmd("DATA").await;
    c.send(format!("{}\r\n.\r\n", "y".repeat(99)).as_bytes())
        .await;
    assert_eq!(
        c.reply().await,
        "554 5.6.0 Message refused: line longer than 100 octets\r\n"
    );
    assert_eq!(server.handoff.stored().len(), 1);
}

#[tokio::test]
async fn bdat_content_with_bare_cr_or_lf_is_refused_as_data_is() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    for content in [&b"a\nb\r\n"[..], b"a\rb\r\n", b"a\r\n.\n", b"a\r"] {
        c.cmd("MAIL FROM:<a@src.test>").await;
        c.cmd("RCPT TO:<b@example.org>").await;
        let mut command = format!("BDAT {} LAST\r\n", content.len()).into_bytes();
        command.extend_from_slice(content);
        c.send(&command).await;
        assert_eq!(
            c.reply().await,
            "554 5.6.0 Message refused: bare CR or LF in data, use CRLF\r\n",
            "{content:?}"
        );
    }
    // A CRLF split across two chunks is a line ending like any other.
    c.cmd("MAIL FROM:<a@src.test>").await;
    c.cmd("RCPT TO:<b@example.org>").await;
    c.send(b"BDAT 2\r\na\rBDAT 1 LAST\r\n\n").await;
    assert_code(&c.reply().await, "250 2.0.0");
    assert_code(&c.reply().await, "250 2.6.0");
    // Lines over the limit are refused too.
    c.cmd("MAIL FROM:<a@src.test>").await;
    c.cmd("RCPT TO:<b@example.org>").await;
    let long = format!("{}\r\n", "y".repeat(999));
    c.send(format!("BDAT {} LAST\r\n{long}", long.len()).as_bytes())
        .await;
    assert_eq!(
        c.reply().await,
        "554 5.6.0 Message refused: line longer than 1000 octets\r\n"
    );
    assert_eq!(server.handoff.stored().len(), 1);
}
