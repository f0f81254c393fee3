//! Replies are bytes: a next hop that writes octets that are not UTF-8 (Latin-1 here) in its
//! greeting, EHLO or replies is understood by its codes; the text is decoded lossily.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use envoi_relay::{NextHop, RelayConfig, SmtpRelay, StaticResolver, Timeouts};
use support::*;

fn latin1(script: Script) -> Script {
    Script {
        banner: "220 peer.test ESMTP Grüße".into(),
        latin1: true,
        ..script
    }
    .caps(&["PIPELINING", "8BITMIME", "SIZE 10000000", "X-GRÜSSE à la"])
}

#[tokio::test]
async fn a_latin1_250_after_the_dot_is_delivered_once() {
    let peer = Peer::start(
        latin1(Script::default()).after_data(|_| vec!["250 2.0.0 Ok: queued à la file".to_owned()]),
    )
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let env = envelope(&["a@dest.test", "b@dest.test"], MESSAGE);
    let out = attempt(&relay, &env).await;
    assert_eq!(codes(&out), ["250 2.0.0", "250 2.0.0"]);
    assert_eq!(out[0].reply.text(), "Ok: queued \u{fffd} la file");
    let txns = peer.transactions();
    assert_eq!(txns.len(), 1);
    // The EHLO reply was understood: its capabilities were used.
    assert!(txns[0].pipelined);
    assert!(txns[0].mail.contains("SIZE="), "{}", txns[0].mail);
}

#[tokio::test]
async fn a_latin1_550_after_the_dot_fails_each_recipient_permanently() {
    let peer = Peer::start(
        latin1(Script::default()).after_data(|_| vec!["550 5.7.1 Message refusé".to_owned()]),
    )
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["550 5.7.1"]);
    assert_eq!(out[0].reply.text(), "Message refus\u{fffd}");
    assert_eq!(peer.transactions().len(), 1);
}

#[tokio::test]
async fn latin1_rcpt_replies_count_on_their_own() {
    let peer = Peer::start(latin1(Script::default()).rcpt(|addr, _| {
        if addr == "b@dest.test" {
            "450 4.2.1 boîte pleine".to_owned()
        } else {
            "250 2.1.5 reçu".to_owned()
        }
    }))
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@dest.test", "b@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0", "450 4.2.1"]);
    assert_eq!(out[1].reply.text(), "bo\u{fffd}te pleine");
}

#[tokio::test]
async fn a_latin1_lmtp_peer_answers_per_recipient() {
    let peer = Peer::start(
        Script {
            lmtp: true,
            ..latin1(Script::default())
        }
        .after_data(|txn| {
            txn.rcpts
                .iter()
                .map(|r| format!("250 2.0.0 <{r}> livré"))
                .collect()
        }),
    )
    .await;
    let mut config = RelayConfig::lmtp(NextHop::lmtp_tcp("127.0.0.1", peer.port()));
    config.helo_name = "client.test".into();
    config.timeouts = Timeouts::all(Duration::from_secs(5));
    let relay = SmtpRelay::new(config, Arc::new(StaticResolver::new())).unwrap();
    let out = attempt(&relay, &envelope(&["a@dest.test", "b@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0", "250 2.0.0"]);
    assert_eq!(out[1].reply.text(), "<b@dest.test> livr\u{fffd}");
}

#[tokio::test]
async fn an_over_long_250_after_the_dot_is_still_a_250() {
    let long = format!("250 2.0.0 queued {}", "x".repeat(10_000));
    let peer = Peer::start(Script::default().after_data(move |_| vec![long.clone()])).await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert!(out[0].reply.text().starts_with("queued xxx"));
    assert_eq!(peer.transactions().len(), 1);
}
