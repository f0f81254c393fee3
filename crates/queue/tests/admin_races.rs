//! Administrative actions racing an attempt or each other have one defined outcome.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::{run_for, send};
use envoi_queue::testkit::{FaultyStore, ScriptedRelay};
use envoi_queue::{MemoryStore, Queue, Storage};

#[tokio::test(start_paused = true)]
async fn a_delete_during_an_attempt_sends_no_bounce_from_it() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "550 5.1.1 no such user");
    relay.set_latency(Duration::from_secs(10));
    let queue = Queue::builder(Arc::new(store.clone()), relay.clone())
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.max_concurrent(), 1, "the attempt is under way");
    queue.delete(id).await.unwrap();
    assert!(store.is_empty(), "the delete did not remove the message");
    relay.set_latency(Duration::ZERO);
    run_for(Duration::from_secs(60)).await;
    assert_eq!(relay.calls_for("a@dst.test").len(), 1);
    assert!(
        relay.bounces_to("s@src.test").is_empty(),
        "the deleted message's attempt bounced"
    );
    assert!(store.is_empty(), "a bounce or the message was stored");
    assert!(queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn racing_hold_and_release_leave_store_and_schedule_agreeing() {
    let store = FaultyStore::new(MemoryStore::new());
    let relay = ScriptedRelay::new();
    relay.then("a@dst.test", &["451 4.4.1 later"]);
    let queue = Queue::builder(store.clone(), relay.clone())
        .backoff(|_: &envoi_types::Envelope, _| Some(Duration::from_secs(60)))
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    // The hold's store write is slower than the release's: without an order between them
    // the store ends held while the schedule thinks the message is free.
    store.delay_set_held(&[Duration::from_secs(10), Duration::from_secs(5)]);
    let hold = queue.hold(id);
    let release = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        queue.release(id).await
    };
    let (held, released) = tokio::join!(hold, release);
    held.unwrap();
    released.unwrap();
    let claims = store.claims();
    run_for(Duration::from_secs(600)).await;
    let stored = store.info(id).await.unwrap();
    match stored {
        // Released last: attempted once more at its due time, and delivered.
        None => assert_eq!(relay.deliveries_to("a@dst.test"), 1),
        // Held last: never attempted while held.
        Some(info) => {
            assert!(info.held);
            assert_eq!(relay.calls().len(), 1);
        }
    }
    assert!(
        store.claims() <= claims + 2,
        "the message was claimed {} times in 10 minutes",
        store.claims() - claims
    );
}
