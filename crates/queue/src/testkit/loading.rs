//! Behaviour-suite rows about start-up with a stored queue read in the background: nothing
//! lost or attempted twice whatever happens between pages, and a shutdown that ends the read.

use std::sync::Arc;
use std::time::Duration;

use envoi_types::{Address, Envelope, QueueId, Sender};

use super::paged::PagedStore;
use super::relay::ScriptedRelay;
use super::suite::{run_for, send};
use crate::clock::Clock;
use crate::queue::Queue;
use crate::storage::{NewMessage, Storage};

/// Stores `n` messages, the i-th to `r<i>@dst.test`, in one write: due now but the last
/// `later`, due in an hour.
async fn stored(store: &Arc<dyn Storage>, clock: Clock, n: usize, later: usize) -> Vec<QueueId> {
    let messages: Vec<NewMessage> = (0..n)
        .map(|i| {
            let rcpt = Address::parse(&format!("r{i}@dst.test")).expect("test address");
            let mut envelope = Envelope::new(
                Sender::parse("s@src.test").expect("test sender"),
                vec![rcpt],
                b"Subject: stored\r\n\r\nhi\r\n".to_vec(),
            );
            envelope.arrival = clock.now();
            let due = if i + later >= n {
                clock.now() + Duration::from_secs(3600)
            } else {
                clock.now()
            };
            NewMessage::new(envelope, due)
        })
        .collect();
    let ids = messages.iter().map(|m| m.id).collect();
    store.write(messages).await.expect("stored");
    ids
}

/// Row "start-up with a large queue": the queue starts from the first page and delivers it
/// while the rest is read. The next page is read (its snapshot taken) at once but arrives
/// only after a delete (of a message due in an hour, so that a ghost would stay) and a hold
/// of messages it names, an enqueue and the first deliveries: every message is still
/// attempted exactly once, the deleted one never and not indexed, the held one stays held;
/// the counts come from the store while loading and agree with it after.
pub async fn schedule_loads_in_the_background_without_loss_or_double(store: Arc<dyn Storage>) {
    let clock = Clock::new();
    let ids = stored(&store, clock, 10, 1).await;
    let paged = PagedStore::new(store.clone(), 2, 100);
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(paged.clone(), relay.clone())
        .clock(clock)
        .node("envoi.test")
        .start()
        .await
        .expect("queue starts");
    assert!(queue.is_loading());
    assert_eq!(queue.len(), 2, "the first page");
    assert_eq!(
        queue.count_by_state().await.expect("counts").total(),
        10,
        "the store's"
    );
    // The loader reads the next page now; it is held at the gate.
    run_for(Duration::from_millis(1)).await;
    let (deleted, held) = (ids[9], ids[8]);
    queue
        .delete(deleted)
        .await
        .expect("a message not loaded yet is deleted");
    queue
        .hold(held)
        .await
        .expect("a message not loaded yet is held");
    let new = send(&queue, "s@src.test", &["new@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    assert_eq!(
        relay.deliveries_to("r0@dst.test"),
        1,
        "the first page is delivered"
    );
    assert_eq!(
        relay.deliveries_to("r2@dst.test"),
        0,
        "the next page is not in yet"
    );
    assert_eq!(
        relay.deliveries_to("new@dst.test"),
        1,
        "new mail is taken and delivered"
    );
    assert!(queue.is_loading(), "the next page is still held");

    paged.open(100);
    run_for(Duration::from_secs(60)).await;
    assert!(!queue.is_loading());
    for i in 0..8 {
        assert_eq!(
            relay.deliveries_to(&format!("r{i}@dst.test")),
            1,
            "message {i}"
        );
    }
    assert_eq!(
        relay.deliveries_to("r8@dst.test"),
        0,
        "held before it loaded"
    );
    assert_eq!(
        relay.deliveries_to("r9@dst.test"),
        0,
        "deleted before it loaded"
    );
    assert_eq!(relay.deliveries_to("new@dst.test"), 1);
    assert!(store.info(new).await.expect("info").is_none());
    assert!(store.info(deleted).await.expect("info").is_none());
    assert!(store.info(held).await.expect("info").expect("kept").held);
    assert_eq!(queue.len(), 1);
    let counts = queue.count_by_state().await.expect("counts");
    assert_eq!(counts, store.count_by_state().await.expect("store counts"));
    assert_eq!((counts.held, counts.total()), (1, 1));
    queue.release(held).await.expect("released");
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.deliveries_to("r8@dst.test"), 1);
}

/// Row "shutdown during loading": the read of the schedule stops with the queue; nothing of
/// the queue is left running (the store is released) and what was not read stays stored.
pub async fn shutdown_during_loading_ends_the_read(store: Arc<dyn Storage>) {
    let clock = Clock::new();
    let ids = stored(&store, clock, 5, 0).await;
    let paged = PagedStore::new(store.clone(), 2, 100);
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(paged.clone(), relay.clone())
        .clock(clock)
        .node("envoi.test")
        .start()
        .await
        .expect("queue starts");
    run_for(Duration::from_secs(1)).await;
    queue.shutdown(Duration::from_secs(5)).await;
    assert!(queue.is_loading());
    drop(queue);
    run_for(Duration::from_secs(1)).await;
    assert_eq!(
        Arc::strong_count(&paged),
        1,
        "the loader and the scheduler ended"
    );
    assert_eq!(relay.calls().len(), 2, "only the first page was attempted");
    for &id in &ids[2..] {
        assert!(store.info(id).await.expect("info").is_some());
    }
}
