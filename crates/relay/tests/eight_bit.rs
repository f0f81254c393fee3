//! What MAIL declares, from what the client declared and what the message holds: SMTPUTF8 only
//! when the message needs it, `BODY=8BITMIME` for 8-bit content or an 8-bit declaration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use envoi_types::BodyType;
use support::*;

/// Raw UTF-8 in a header, sent by a client that did not use SMTPUTF8.
const GRUSSE: &[u8] = "Subject: Grüße\r\nFrom: a@src.test\r\n\r\nhallo\r\n".as_bytes();

#[tokio::test]
async fn eight_bit_headers_without_smtputf8_go_as_8bitmime() {
    let peer = Peer::start(Script::default().caps(&["PIPELINING", "8BITMIME"])).await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test"], GRUSSE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    let txns = peer.transactions();
    assert_eq!(txns[0].mail, "MAIL FROM:<sender@src.test> BODY=8BITMIME");
    assert_eq!(txns[0].data, [GRUSSE, b".\r\n"].concat());
}

#[tokio::test]
async fn smtputf8_headers_need_a_hop_that_offers_smtputf8() {
    let mut env = envelope(&["a@d.test"], GRUSSE);
    env.client.smtputf8 = true;
    let plain = Peer::start(Script::default().caps(&["8BITMIME"])).await;
    let out = attempt(&relay_to(plain.port(), |_| {}), &env).await;
    assert_eq!(codes(&out), ["553 5.6.7"]);
    assert!(plain.transactions().is_empty());
    let utf8 = Peer::start(Script::default().caps(&["8BITMIME", "SMTPUTF8"])).await;
    let out = attempt(&relay_to(utf8.port(), |_| {}), &env).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(
        utf8.transactions()[0].mail,
        "MAIL FROM:<sender@src.test> BODY=8BITMIME SMTPUTF8"
    );
}

#[tokio::test]
async fn a_declared_smtputf8_is_passed_on_but_not_required_when_all_is_ascii() {
    let mut env = envelope(&["a@d.test"], MESSAGE);
    env.client.smtputf8 = true;
    let plain = Peer::start(Script::default().caps(&["8BITMIME"])).await;
    let out = attempt(&relay_to(plain.port(), |_| {}), &env).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(plain.transactions()[0].mail, "MAIL FROM:<sender@src.test>");
    let utf8 = Peer::start(Script::default().caps(&["SMTPUTF8"])).await;
    let out = attempt(&relay_to(utf8.port(), |_| {}), &env).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(
        utf8.transactions()[0].mail,
        "MAIL FROM:<sender@src.test> SMTPUTF8"
    );
}

#[tokio::test]
async fn a_declared_8bitmime_is_passed_on() {
    let mut env = envelope(&["a@d.test"], MESSAGE);
    env.client.body = BodyType::EightBitMime;
    let peer = Peer::start(Script::default().caps(&["8BITMIME"])).await;
    let out = attempt(&relay_to(peer.port(), |_| {}), &env).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(
        peer.transactions()[0].mail,
        "MAIL FROM:<sender@src.test> BODY=8BITMIME"
    );
}
