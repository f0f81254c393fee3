//! The queue's bytes (`Queue::queued_bytes`, the `envoi_queue_bytes` gauge) follow messages
//! in and out, and a restart counts the messages already stored. Paused tokio time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::{envelope, run_for, send};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{MemoryStore, Queue};

async fn start(store: &Arc<MemoryStore>, relay: &Arc<ScriptedRelay>) -> Queue {
    Queue::builder(store.clone(), relay.clone())
        .node("envoi.test")
        .start()
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn queued_bytes_follow_messages_in_and_out_and_survive_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let relay = ScriptedRelay::new();
    relay.always("wait@dst.test", "451 4.4.1 try later");
    let queue = start(&store, &relay).await;
    let size = envelope(&queue, "s@src.test", &["x@dst.test"])
        .message
        .len() as u64;
    assert_eq!(queue.queued_bytes(), 0);

    let delivered = send(&queue, "s@src.test", &["ok@dst.test"]).await;
    let waiting = send(&queue, "s@src.test", &["wait@dst.test"]).await;
    let deleted = send(&queue, "s@src.test", &["wait@dst.test"]).await;
    assert_eq!(queue.queued_bytes(), 3 * size);
    run_for(Duration::from_secs(1)).await;
    // Delivered: gone; deferred: still there.
    assert!(queue.info(delivered).await.unwrap().is_none());
    assert_eq!(queue.queued_bytes(), 2 * size);
    queue.delete(deleted).await.unwrap();
    assert_eq!(queue.queued_bytes(), size);
    queue.shutdown(Duration::from_secs(5)).await;

    // A new queue over the same store counts what is stored, in the background.
    let queue = start(&store, &relay).await;
    run_for(Duration::from_millis(10)).await;
    assert_eq!(queue.queued_bytes(), size);
    // A bounce is a message too: it enters as the original leaves.
    queue.bounce(waiting).await.unwrap();
    let bounce_bytes = queue.queued_bytes();
    assert!(bounce_bytes > 0, "the bounce is queued");
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.bounces_to("s@src.test").len(), 1);
    assert_eq!(queue.queued_bytes(), 0);
    queue.shutdown(Duration::from_secs(5)).await;
}
