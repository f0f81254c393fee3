//! The queue's tasks end with it: dropping the last `Queue` handle stops the scheduler (it
//! holds only a weak reference) once the attempts in flight have ended.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::{run_for, send};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{MemoryStore, Queue};

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_stops_the_scheduler() {
    let before = alive_tasks();
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
        .start()
        .await
        .unwrap();
    let other = queue.clone();
    run_for(Duration::from_secs(1)).await;
    assert_eq!(alive_tasks(), before + 1, "the scheduler runs");
    drop(queue);
    run_for(Duration::from_secs(1)).await;
    assert_eq!(
        alive_tasks(),
        before + 1,
        "a handle is left: the scheduler still runs"
    );
    drop(other);
    run_for(Duration::from_secs(1)).await;
    assert_eq!(alive_tasks(), before, "the scheduler outlived every handle");
    assert_eq!(
        Arc::strong_count(&relay),
        1,
        "the queue's state was not freed"
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_in_flight_finishes_after_the_last_handle_is_dropped() {
    let before = alive_tasks();
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    relay.set_latency(Duration::from_secs(10));
    let queue = Queue::builder(Arc::new(store.clone()), relay.clone())
        .start()
        .await
        .unwrap();
    send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.max_concurrent(), 1, "the attempt started");
    assert!(relay.calls().is_empty(), "the attempt already ended");
    drop(queue);
    run_for(Duration::from_secs(20)).await;
    assert_eq!(relay.deliveries_to("a@dst.test"), 1);
    assert!(store.is_empty(), "the attempt's outcome was not committed");
    assert_eq!(alive_tasks(), before, "the queue's tasks outlived it");
    assert_eq!(Arc::strong_count(&relay), 1);
}
