//! The same recipient twice in one transaction is stored, attempted and delivered once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::{envelope, run_for};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{MemoryStore, Queue, Storage};

#[tokio::test(start_paused = true)]
async fn a_recipient_given_twice_is_stored_and_delivered_once() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    relay.set_latency(Duration::from_secs(1));
    let queue = Queue::builder(Arc::new(store.clone()), relay.clone())
        .start()
        .await
        .unwrap();
    // The domain compares case-insensitively, the local part exactly (RFC 5321 §2.4).
    let env = envelope(
        &queue,
        "s@src.test",
        &[
            "a@dst.test",
            "b@dst.test",
            "a@DST.test",
            "A@dst.test",
            "b@dst.test",
        ],
    );
    let ids = queue.enqueue(env).await.unwrap();
    assert_eq!(ids.len(), 1);
    let info = store.info(ids[0]).await.unwrap().unwrap();
    let stored: Vec<String> = info
        .recipients
        .iter()
        .map(|r| r.recipient.to_string())
        .collect();
    assert_eq!(stored, ["a@dst.test", "b@dst.test", "A@dst.test"]);

    run_for(Duration::from_secs(10)).await;
    let calls = relay.calls();
    assert_eq!(calls.len(), 1);
    let sent: Vec<&str> = calls[0]
        .envelope
        .recipients
        .iter()
        .map(|r| r.as_str())
        .collect();
    assert_eq!(sent, ["a@dst.test", "b@dst.test", "A@dst.test"]);
    assert_eq!(relay.deliveries_to("a@dst.test"), 1);
    assert!(store.is_empty());
}
