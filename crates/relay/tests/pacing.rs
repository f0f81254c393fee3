//! Per-destination connection limits through a real queue, a real relay and a real peer:
//! messages per connection and connections per second.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::{DestinationLimits, MemoryStore, Queue, QueueSettings};
use envoi_relay::{ConnectionLimits, NextHop, RelayConfig, TlsPolicy};
use support::*;

/// A relay whose smarthost is the peer, with a route for `domain` to the same peer (so that
/// `domain` is a destination of its own) whose connection limits are `own`.
fn relay_with(port: u16, domain: &str, own: ConnectionLimits) -> envoi_relay::SmtpRelay {
    relay_to(port, |c: &mut RelayConfig| {
        let hop = NextHop::smtp("127.0.0.1", port).with_tls(TlsPolicy::None);
        c.routes.add(domain, vec![hop]);
        c.pool.destinations.insert(domain.to_owned(), own);
    })
}

async fn until_empty(queue: &Queue) {
    for _ in 0..200 {
        if queue.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the queue did not empty within 10 s");
}

/// Enqueues one message per subject, to `rcpt`, each due after the one before.
async fn send_in_order(queue: &Queue, rcpt: &str, subjects: &[String]) {
    for subject in subjects {
        let body = format!("Subject: {subject}\r\n\r\nbody\r\n");
        queue
            .enqueue(envelope(&[rcpt], body.as_bytes()))
            .await
            .unwrap();
        // Due times are in milliseconds: one apiece keeps the due order the enqueue order.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

fn subjects(txns: &[Txn]) -> Vec<String> {
    txns.iter()
        .map(|t| {
            let text = String::from_utf8_lossy(&t.data).into_owned();
            text.lines().next().unwrap_or("").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_destinations_message_limit_closes_its_connections_and_others_keep_theirs() {
    let peer = Peer::start(Script::default()).await;
    let own = ConnectionLimits {
        max_messages_per_connection: Some(3),
        connections_per_second: None,
    };
    let relay = relay_with(peer.port(), "batch.test", own);
    // One at a time to batch.test, so that each message can reuse the last connection.
    let mut settings = QueueSettings::default();
    let one = DestinationLimits {
        max_in_flight: Some(1),
        messages_per_second: None,
    };
    settings.destinations.insert("batch.test".into(), one);
    settings.destinations.insert("*".into(), one);
    let queue = Queue::builder(Arc::new(MemoryStore::new()), Arc::new(relay))
        .settings(&settings)
        .start()
        .await
        .unwrap();
    let batch: Vec<String> = (0..7).map(|i| format!("batch {i}")).collect();
    send_in_order(&queue, "a@batch.test", &batch).await;
    until_empty(&queue).await;
    // ceil(7 / 3) connections: 3, 3 and 1 messages.
    assert_eq!(peer.connections(), 3);
    let txns = peer.transactions();
    assert_eq!(
        subjects(&txns),
        batch
            .iter()
            .map(|s| format!("Subject: {s}"))
            .collect::<Vec<_>>()
    );
    let per_conn: Vec<usize> = (0..3)
        .map(|c| txns.iter().filter(|t| t.conn == c).count())
        .collect();
    assert_eq!(per_conn, [3, 3, 1]);

    // Another destination on the same host keeps the relay-wide limit (100): it goes on over
    // the connection left idle, and opens no other.
    let other: Vec<String> = (0..7).map(|i| format!("other {i}")).collect();
    send_in_order(&queue, "b@other.test", &other).await;
    until_empty(&queue).await;
    assert_eq!(peer.connections(), 3);
    assert_eq!(peer.transactions().len(), 14);
    queue.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_connection_rate_spaces_new_connections_and_keeps_the_due_order() {
    let peer = Peer::start(Script::default()).await;
    // Two connections a second, each carrying one message: three messages need three
    // connections, at least half a second apart.
    let own = ConnectionLimits {
        max_messages_per_connection: Some(1),
        connections_per_second: Some(2.0),
    };
    let relay = relay_with(peer.port(), "paced.test", own);
    let queue = Queue::builder(Arc::new(MemoryStore::new()), Arc::new(relay))
        .start()
        .await
        .unwrap();
    let paced: Vec<String> = (0..3).map(|i| format!("paced {i}")).collect();
    send_in_order(&queue, "a@paced.test", &paced).await;
    until_empty(&queue).await;

    let opened = peer.log.lock().unwrap().opened.clone();
    assert_eq!(opened.len(), 3);
    for pair in opened.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        // The relay spaces its connects by 500 ms; the accepts may be a little closer.
        assert!(
            gap >= Duration::from_millis(450),
            "connections {gap:?} apart"
        );
    }
    let txns = peer.transactions();
    // Each message once, in due order, each on the connection opened for it.
    assert_eq!(
        subjects(&txns),
        paced
            .iter()
            .map(|s| format!("Subject: {s}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(txns.iter().map(|t| t.conn).collect::<Vec<_>>(), [0, 1, 2]);
    queue.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_delivery_waiting_for_a_connection_token_takes_a_connection_put_back() {
    let peer = Peer::start(Script::default()).await;
    // One connection every 10 s: the second and third messages would wait 10 and 20 s for a
    // token of their own, but the first one's connection comes back long before.
    let own = ConnectionLimits {
        max_messages_per_connection: None,
        connections_per_second: Some(0.1),
    };
    let relay = relay_with(peer.port(), "paced.test", own);
    let queue = Queue::builder(Arc::new(MemoryStore::new()), Arc::new(relay))
        .start()
        .await
        .unwrap();
    // Suspended while they are queued, so that all three start together at the resume.
    queue.suspend("paced.test", None, "").await.unwrap();
    let paced: Vec<String> = (0..3).map(|i| format!("paced {i}")).collect();
    send_in_order(&queue, "a@paced.test", &paced).await;
    assert!(queue.resume("paced.test").await.unwrap());
    until_empty(&queue).await;
    assert_eq!(peer.connections(), 1);
    let txns = peer.transactions();
    assert_eq!(
        subjects(&txns),
        paced
            .iter()
            .map(|s| format!("Subject: {s}"))
            .collect::<Vec<_>>()
    );
    queue.shutdown(Duration::from_secs(5)).await;
}
