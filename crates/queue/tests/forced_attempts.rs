//! Forced attempts (flush, retry) do not use up the backoff's attempts: an operator flushing
//! during an outage does not bring a bounce closer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::{run_for, send};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{Exponential, MemoryStore, Queue, Storage};

#[tokio::test(start_paused = true)]
async fn flushes_during_an_outage_do_not_use_up_max_attempts() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "451 4.4.1 outage");
    let backoff = Exponential {
        first: Duration::from_secs(3600),
        factor: 1.0,
        cap: None,
        max_attempts: 2,
    };
    let queue = Queue::builder(Arc::new(store.clone()), relay.clone())
        .backoff(backoff)
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    let before = store.info(id).await.unwrap().unwrap();
    assert_eq!(before.attempts, 1);

    for _ in 0..5 {
        assert_eq!(queue.flush().await, 1);
        run_for(Duration::from_secs(1)).await;
        queue.retry(id).unwrap();
        run_for(Duration::from_secs(1)).await;
    }
    assert_eq!(
        relay.calls_for("a@dst.test").len(),
        11,
        "every flush attempted"
    );
    let after = store.info(id).await.unwrap().expect("bounced early");
    assert_eq!(after.attempts, 1, "forced attempts were counted");
    assert_eq!(
        after.next_attempt, before.next_attempt,
        "the schedule moved"
    );
    assert!(relay.bounces_to("s@src.test").is_empty());

    // The scheduled attempts still run and end as the backoff says.
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(store.info(id).await.unwrap().unwrap().attempts, 2);
    run_for(Duration::from_secs(3600)).await;
    run_for(Duration::from_secs(10)).await;
    assert!(store.info(id).await.unwrap().is_none());
    assert_eq!(relay.bounces_to("s@src.test").len(), 1);
}
