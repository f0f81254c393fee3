//! A peer's success reply where a refusal or `354` was due never counts as delivery: nothing
//! was sent, so the recipients are deferred (`451 4.5.0`), never recorded delivered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[tokio::test]
async fn data_answered_with_250_instead_of_354_is_not_a_delivery() {
    for caps in [vec!["PIPELINING"], vec![]] {
        let script = Script {
            data: "250 2.0.0 ok".into(),
            ..Script::default()
        }
        .caps(&caps);
        let peer = Peer::start(script).await;
        let relay = relay_to(peer.port(), |_| {});
        let out = attempt(&relay, &envelope(&["a@d.test", "b@d.test"], MESSAGE)).await;
        assert_eq!(codes(&out), ["451 4.5.0", "451 4.5.0"], "caps {caps:?}");
        assert!(peer.transactions().iter().all(|t| t.data.is_empty()));
    }
}

#[tokio::test]
async fn a_greeting_other_than_220_is_not_a_delivery() {
    let peer = Peer::start(Script {
        banner: "250 hello".into(),
        ..Script::default()
    })
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.5.0"]);
}
