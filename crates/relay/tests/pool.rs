//! Connection reuse, per-destination concurrency, idle timeout, reuse limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn hundred_messages_over_one_reused_connection() {
    let peer = Peer::start(Script::default()).await;
    let relay = relay_to(peer.port(), |c| c.pool.max_messages_per_connection = 100);
    for i in 0..100 {
        let msg = format!("Subject: {i}\r\n\r\nbody {i}\r\n");
        let out = attempt(&relay, &envelope(&["a@d.test"], msg.as_bytes())).await;
        assert_eq!(codes(&out), ["250 2.0.0"], "message {i}");
    }
    assert_eq!(peer.connections(), 1);
    let txns = peer.transactions();
    assert_eq!(txns.len(), 100);
    assert_eq!(txns[99].data, b"Subject: 99\r\n\r\nbody 99\r\n.\r\n");
    let commands = peer.commands();
    assert_eq!(commands.iter().filter(|c| c.starts_with("EHLO")).count(), 1);
    // RSET between messages: before each reuse.
    assert_eq!(commands.iter().filter(|c| *c == "RSET").count(), 99);
}

#[tokio::test]
async fn connection_closed_after_max_messages() {
    let peer = Peer::start(Script::default()).await;
    let relay = relay_to(peer.port(), |c| c.pool.max_messages_per_connection = 2);
    for _ in 0..5 {
        let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
        assert_eq!(codes(&out), ["250 2.0.0"]);
    }
    assert_eq!(peer.connections(), 3);
    assert_eq!(peer.transactions().len(), 5);
}

#[tokio::test]
async fn idle_connection_past_its_timeout_is_not_reused() {
    let peer = Peer::start(Script::default()).await;
    let relay = relay_to(peer.port(), |c| c.pool.idle_timeout = Duration::ZERO);
    for _ in 0..3 {
        let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
        assert_eq!(codes(&out), ["250 2.0.0"]);
    }
    assert_eq!(peer.connections(), 3);
    assert!(!peer.commands().contains(&"RSET".to_owned()));
}

#[tokio::test]
async fn idle_connection_closed_by_peer_is_replaced() {
    // The peer hangs up right after each message: the pooled connection is dead on reuse.
    let peer = Peer::start(
        Script::default().after_data(|_| vec!["250 2.0.0 queued".to_owned(), "CLOSE".to_owned()]),
    )
    .await;
    let relay = relay_to(peer.port(), |_| {});
    for _ in 0..2 {
        let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
        assert_eq!(codes(&out), ["250 2.0.0"]);
    }
    assert_eq!(peer.transactions().len(), 2);
    assert_eq!(peer.connections(), 2);
}

#[tokio::test]
async fn per_destination_concurrency_limit() {
    let peer = Peer::start(Script::default()).await;
    let relay = relay_to(peer.port(), |c| {
        c.pool.max_connections_per_destination = 2;
        c.pool.max_messages_per_connection = 1;
    });
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let relay = relay.clone();
        tasks.spawn(async move {
            let rcpt = format!("r{i}@d.test");
            codes(&attempt(&relay, &envelope(&[rcpt.as_str()], MESSAGE)).await)
        });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap(), ["250 2.0.0"]);
    }
    assert_eq!(peer.transactions().len(), 8);
    assert_eq!(peer.connections(), 8);
    let max = peer.log.lock().unwrap().max_concurrent;
    assert!(max <= 2, "peer saw {max} concurrent connections");
}

#[tokio::test]
async fn waiting_delivery_takes_a_returned_connection() {
    let peer = Peer::start(Script::default()).await;
    let relay = relay_to(peer.port(), |c| c.pool.max_connections_per_destination = 1);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..5 {
        let relay = relay.clone();
        tasks.spawn(async move {
            let rcpt = format!("r{i}@d.test");
            codes(&attempt(&relay, &envelope(&[rcpt.as_str()], MESSAGE)).await)
        });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap(), ["250 2.0.0"]);
    }
    assert_eq!(peer.transactions().len(), 5);
    assert_eq!(peer.connections(), 1);
}

#[tokio::test]
async fn lax_connection_is_not_reused_for_a_stricter_profile() {
    // Same destination, two profiles: AUTH and no AUTH.
    let peer = Peer::start(Script::default().caps(&["AUTH PLAIN", "PIPELINING"])).await;
    let port = peer.port();
    let relay = relay_to(port, |c| {
        c.routes.add(
            "auth.test",
            vec![envoi_relay::NextHop::smtp("127.0.0.1", port)
                .with_tls(envoi_relay::TlsPolicy::None)
                .with_auth("user", "secret")],
        );
    });
    assert_eq!(
        codes(&attempt(&relay, &envelope(&["a@plain.test"], MESSAGE)).await),
        ["250 2.0.0"]
    );
    assert_eq!(
        codes(&attempt(&relay, &envelope(&["a@auth.test"], MESSAGE)).await),
        ["250 2.0.0"]
    );
    assert_eq!(peer.connections(), 2);
    assert_eq!(
        peer.commands()
            .iter()
            .filter(|c| c.starts_with("AUTH"))
            .count(),
        1
    );
}

#[tokio::test]
async fn idle_connection_of_another_profile_yields_its_permit() {
    let peer = Peer::start(Script::default().caps(&["AUTH PLAIN", "PIPELINING"])).await;
    let port = peer.port();
    let relay = relay_to(port, |c| {
        c.pool.max_connections_per_destination = 1;
        c.routes.add(
            "auth.test",
            vec![envoi_relay::NextHop::smtp("127.0.0.1", port)
                .with_tls(envoi_relay::TlsPolicy::None)
                .with_auth("user", "secret")],
        );
    });
    // The first leaves an idle connection holding the only permit; the second needs another
    // profile and must not wait for ever.
    assert_eq!(
        codes(&attempt(&relay, &envelope(&["a@plain.test"], MESSAGE)).await),
        ["250 2.0.0"]
    );
    let second = tokio::time::timeout(
        Duration::from_secs(10),
        attempt(&relay, &envelope(&["a@auth.test"], MESSAGE)),
    )
    .await
    .expect("second delivery waited for a permit held by an idle connection");
    assert_eq!(codes(&second), ["250 2.0.0"]);
    assert_eq!(peer.connections(), 2);
}

#[tokio::test]
async fn close_idle_sends_quit() {
    let peer = Peer::start(Script::default()).await;
    let relay = relay_to(peer.port(), |_| {});
    assert_eq!(
        codes(&attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await),
        ["250 2.0.0"]
    );
    assert_eq!(relay.idle_connections(), 1);
    relay.close_idle();
    assert_eq!(relay.idle_connections(), 0);
    // QUIT goes out in the background; wait for the peer to see it (bounded).
    for _ in 0..100 {
        if peer.commands().last().map(String::as_str) == Some("QUIT") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(peer.commands().last().map(String::as_str), Some("QUIT"));
}
