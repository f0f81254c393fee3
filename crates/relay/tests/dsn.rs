//! The DSN extension on the way out (RFC 3461 §5.2): a next hop that offers DSN receives
//! `RET`, `ENVID`, `NOTIFY` and `ORCPT` unchanged (xtext encoded as they arrived) and reports
//! success itself; one without DSN gets none of them, and its acceptances are marked
//! "relayed" (an LMTP server's "delivered") for envoi to report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::bounce::Action;
use envoi_relay::{NextHop, RelayConfig, SmtpRelay, StaticResolver, Timeouts};
use envoi_types::{DsnRequest, Envelope, Notify, OriginalRecipient, RecipientDsn, Ret};
use support::*;

/// Two recipients, the first with NOTIFY and ORCPT, the second with none; RET and ENVID.
fn with_dsn() -> Envelope {
    let mut env = envelope(&["a@dest.test", "b@dest.test"], MESSAGE);
    env.dsn = DsnRequest {
        ret: Some(Ret::Headers),
        envid: Some("QQ+314=".into()),
        recipients: vec![RecipientDsn {
            recipient: addr("a@dest.test"),
            notify: Notify::parse("SUCCESS,FAILURE"),
            orcpt: OriginalRecipient::parse("rfc822;x+2By@dest.test"),
        }],
    };
    env
}

fn transaction_commands(peer: &Peer) -> Vec<String> {
    peer.commands()
        .into_iter()
        .filter(|c| c.starts_with("MAIL") || c.starts_with("RCPT"))
        .collect()
}

#[tokio::test]
async fn a_hop_with_dsn_receives_the_parameters_unchanged() {
    let peer = Peer::start(Script::default().caps(&["PIPELINING", "DSN"])).await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &with_dsn()).await;
    assert_eq!(codes(&out), ["250 2.0.0", "250 2.0.0"]);
    assert_eq!(
        transaction_commands(&peer),
        [
            "MAIL FROM:<sender@src.test> RET=HDRS ENVID=QQ+2B314+3D",
            "RCPT TO:<a@dest.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+2By@dest.test",
            "RCPT TO:<b@dest.test>",
        ]
    );
    assert!(
        out.iter().all(|o| o.success_action.is_none()),
        "a DSN hop reports success itself"
    );
}

#[tokio::test]
async fn a_hop_without_dsn_gets_no_parameters_and_success_is_relayed() {
    let peer = Peer::start(Script::default().caps(&["PIPELINING"])).await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &with_dsn()).await;
    assert_eq!(
        transaction_commands(&peer),
        [
            "MAIL FROM:<sender@src.test>",
            "RCPT TO:<a@dest.test>",
            "RCPT TO:<b@dest.test>"
        ]
    );
    let actions: Vec<_> = out.iter().map(|o| o.success_action).collect();
    assert_eq!(actions, [Some(Action::Relayed), Some(Action::Relayed)]);
}

#[tokio::test]
async fn an_lmtp_delivery_without_dsn_is_delivered() {
    let script = Script {
        lmtp: true,
        ..Script::default()
    }
    .after_data(|txn| vec!["250 2.0.0 delivered".to_owned(); txn.rcpts.len()]);
    let peer = Peer::start(script).await;
    let mut config = RelayConfig::lmtp(NextHop::lmtp_tcp("127.0.0.1", peer.port()));
    config.helo_name = "client.test".into();
    config.timeouts = Timeouts::all(Duration::from_secs(5));
    let relay = SmtpRelay::new(config, Arc::new(StaticResolver::new())).unwrap();
    let out = attempt(&relay, &with_dsn()).await;
    assert_eq!(codes(&out), ["250 2.0.0", "250 2.0.0"]);
    let actions: Vec<_> = out.iter().map(|o| o.success_action).collect();
    assert_eq!(actions, [Some(Action::Delivered), Some(Action::Delivered)]);
}
