//! No panic leaves a message in flight: a panicking backoff or bounce factory is a transient
//! failure, as a panicking relay is, and the message is attempted again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use envoi_queue::bounce::BounceContext;
use envoi_queue::testkit::suite::{run_for, send};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{BounceFactory, DsnBounce, Exponential, MemoryStore, Queue, Storage};
use envoi_types::Envelope;

/// Panics on its first `n` calls, then behaves like `inner`.
struct PanicsFirst<T> {
    left: AtomicUsize,
    inner: T,
}

impl<T> PanicsFirst<T> {
    fn new(n: usize, inner: T) -> Self {
        Self {
            left: AtomicUsize::new(n),
            inner,
        }
    }

    fn check(&self) {
        let left = self.left.load(Ordering::SeqCst);
        if left > 0 {
            self.left.store(left - 1, Ordering::SeqCst);
            panic!("scripted panic");
        }
    }
}

impl BounceFactory for PanicsFirst<DsnBounce> {
    fn bounce(&self, context: BounceContext<'_>) -> Envelope {
        self.check();
        self.inner.bounce(context)
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_backoff_is_a_transient_failure() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    relay.then("a@dst.test", &["451 4.4.1 later"]);
    let backoff = PanicsFirst::new(1, ());
    let backoff = move |_: &Envelope, _: u32| {
        backoff.check();
        Some(Duration::from_secs(60))
    };
    let queue = Queue::builder(Arc::new(store.clone()), relay.clone())
        .backoff(backoff)
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    let info = store.info(id).await.unwrap().expect("message lost");
    assert_eq!(info.attempts, 1, "the failed attempt is counted");
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(
        relay.deliveries_to("a@dst.test"),
        1,
        "never attempted again"
    );
    assert!(store.is_empty());
    assert!(queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_bounce_factory_is_a_transient_failure() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "550 5.1.1 no such user");
    let queue = Queue::builder(Arc::new(store.clone()), relay.clone())
        .backoff(Exponential::seed_example())
        .bounce_factory(PanicsFirst::new(1, DsnBounce::new("envoi.test")))
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    let info = store.info(id).await.unwrap().expect("message lost");
    assert!(info.pending().count() == 1, "the failure lost its bounce");
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(relay.bounces_to("s@src.test").len(), 1);
    assert!(store.is_empty());
    assert!(queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_store_leaves_no_message_in_flight() {
    let memory = MemoryStore::new();
    let store = envoi_queue::testkit::FaultyStore::new(memory.clone());
    let relay = ScriptedRelay::new();
    relay.then("a@dst.test", &["451 4.4.1 later"]);
    let queue = Queue::builder(store.clone(), relay.clone())
        .backoff(|_: &Envelope, _| Some(Duration::from_secs(60)))
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    // The retry reads the message back from the store, which panics once.
    store.panic_on_claims(1);
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(
        relay.deliveries_to("a@dst.test"),
        1,
        "left in flight for ever"
    );
    assert!(memory.info(id).await.unwrap().is_none());
    assert!(queue.is_empty());
}
