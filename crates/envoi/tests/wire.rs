//! End to end on the real binary against a scripted next hop: replies are bytes, and 8-bit
//! headers need no SMTPUTF8.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::hop::{send_with, Hop, HopScript};
use support::{send, wait_for, Daemon};

const CAPS: &[&str] = &["PIPELINING", "8BITMIME", "SIZE 10000000"];

fn smarthost(port: u16) -> String {
    format!("[relay]\nsmarthost = \"smtp://127.0.0.1:{port}\"\n")
}

/// The queue's messages, from `envoi queue list --json`.
fn queued(daemon: &Daemon) -> Vec<serde_json::Value> {
    let listed = daemon.queue_cli(&["list", "--json"]);
    assert!(listed.status.success(), "{listed:?}");
    let page: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    page["messages"].as_array().unwrap().clone()
}

/// Waits until the log has `event="<event>"` `n` times; returns the log.
fn wait_for_events(daemon: &Daemon, event: &str, n: usize) -> String {
    let needle = format!("event=\"{event}\"");
    wait_for(&format!("{n} {event} events"), || {
        let log = daemon.log_text();
        (log.matches(&needle).count() >= n).then_some(log)
    })
}

#[test]
fn a_latin1_250_after_the_dot_is_one_copy_and_no_retry() {
    let hop = Hop::start(HopScript::new(CAPS, b"250 2.0.0 Ok: queued \xe0 la file"));
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &smarthost(hop.port));
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["rcpt@dst.test"],
        b"Subject: latin1-250\r\n\r\nhello\r\n",
    );
    assert!(reply.starts_with("250 2.6.0 "), "{reply}");
    let log = wait_for_events(&daemon, "delivered", 1);
    assert!(log.contains("Ok: queued \u{fffd} la file"), "{log}");
    assert!(!log.contains("event=\"deferred\""), "{log}");
    // The delivery is logged just before its removal is committed.
    wait_for("the delivered message to leave the queue", || {
        queued(&daemon).is_empty().then_some(())
    });
    assert_eq!(hop.transactions().len(), 1);
}

#[test]
fn a_latin1_550_after_the_dot_is_one_bounce_at_once() {
    let rejecting = Hop::start(HopScript::new(CAPS, b"550 5.7.1 Message refus\xe9"));
    let senders = Hop::start(HopScript::new(CAPS, b"250 2.0.0 ok"));
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &format!(
            "{}[relay.routes]\n\"src.test\" = [\"smtp://127.0.0.1:{}\"]\n",
            smarthost(rejecting.port),
            senders.port
        ),
    );
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["rcpt@dst.test"],
        b"Subject: latin1-550\r\n\r\nhello\r\n",
    );
    assert!(reply.starts_with("250 2.6.0 "), "{reply}");
    let bounces = senders.wait_for(1);
    // The reply's text is in the bounce, decoded lossily: 8-bit content.
    let mail = &bounces[0].mail;
    assert!(
        mail.starts_with("MAIL FROM:<> SIZE=") && mail.ends_with(" BODY=8BITMIME"),
        "{mail}"
    );
    assert_eq!(bounces[0].rcpts, ["sender@src.test"]);
    let text = String::from_utf8(bounces[0].data.clone()).unwrap();
    assert!(
        text.contains("Diagnostic-Code: smtp; 550 5.7.1 Message refus\u{fffd}"),
        "{text}"
    );
    assert!(text.contains("Status: 5.7.1"), "{text}");
    let log = wait_for_events(&daemon, "delivered", 1);
    assert!(!log.contains("event=\"deferred\""), "{log}");
    assert_eq!(log.matches("event=\"bounced\"").count(), 1, "{log}");
    assert_eq!(rejecting.transactions().len(), 1);
    assert_eq!(senders.transactions().len(), 1);
}

#[test]
fn eight_bit_headers_reach_a_hop_without_smtputf8_as_8bitmime() {
    let hop = Hop::start(HopScript::new(CAPS, b"250 2.0.0 ok"));
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &smarthost(hop.port));
    let sent = "Subject: Grüße\r\nFrom: sender@src.test\r\n\r\nHallo.\r\n".as_bytes();
    let reply = send(daemon.smtp, "sender@src.test", &["rcpt@dst.test"], sent);
    assert!(reply.starts_with("250 2.6.0 "), "{reply}");
    let txns = hop.wait_for(1);
    assert!(
        txns[0]
            .mail
            .starts_with("MAIL FROM:<sender@src.test> SIZE=")
            && txns[0].mail.ends_with(" BODY=8BITMIME"),
        "{}",
        txns[0].mail
    );
    assert!(!txns[0].mail.contains("SMTPUTF8"));
    assert!(txns[0].data.ends_with(sent), "{:?}", txns[0].data);
    assert!(txns[0].data.starts_with(b"Received: from client.test"));
    let log = wait_for_events(&daemon, "delivered", 1);
    assert!(!log.contains("event=\"bounced\""), "{log}");
}

#[test]
fn a_declared_smtputf8_survives_the_spool_to_the_next_hop() {
    let mut caps = CAPS.to_vec();
    caps.push("SMTPUTF8");
    let hop = Hop::start(HopScript::new(&caps, b"250 2.0.0 ok"));
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &smarthost(hop.port));
    let sent = "Subject: ¡hola!\r\n\r\nhi\r\n".as_bytes();
    let reply = send_with(
        daemon.smtp,
        "sender@src.test",
        " BODY=8BITMIME SMTPUTF8",
        "rcpt@dst.test",
        sent,
    );
    assert!(reply.starts_with("250 2.6.0 "), "{reply}");
    let txns = hop.wait_for(1);
    assert!(
        txns[0].mail.ends_with(" BODY=8BITMIME SMTPUTF8"),
        "{}",
        txns[0].mail
    );
    let log = wait_for_events(&daemon, "delivered", 1);
    assert!(
        log.contains("smtputf8=true body=\"8BITMIME\" tls=none"),
        "{log}"
    );
}
