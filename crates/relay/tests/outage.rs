//! The queue owns a dead destination's back-off: the relay never refuses to try on its own,
//! so a flush after an outage reaches the hop at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::{MemoryStore, Queue, Storage};
use support::*;

#[tokio::test]
async fn a_flush_after_an_outage_delivers_everything_at_once() {
    let port = free_port();
    let relay = relay_to(port, |_| {});
    let store = MemoryStore::new();
    let queue = Queue::builder(Arc::new(store.clone()), Arc::new(relay))
        .start()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..50 {
        let rcpt = format!("r{n}@d.test");
        ids.extend(queue.enqueue(envelope(&[&rcpt], MESSAGE)).await.unwrap());
    }
    // Refused at once on loopback; every message waits, none spent an attempt.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut tried = 0;
    for id in &ids {
        let info = store.info(*id).await.unwrap().unwrap();
        assert_eq!(info.attempts, 0, "an unreachable hop spent an attempt");
        let reply = info.recipients[0].last_reply.as_ref();
        tried += usize::from(reply.is_some_and(|r| r.code == 451));
    }
    assert!(tried > 0, "the hop was never tried");

    let peer = Peer::start_on(&format!("127.0.0.1:{port}"), Script::default()).await;
    assert_eq!(queue.flush().await, 50);
    for _ in 0..100 {
        if queue.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(queue.is_empty(), "not delivered within 10 s of the flush");
    assert_eq!(peer.transactions().len(), 50, "each message once");
}
