//! Behaviour-suite row about the per-domain counts the queue keeps for the admin summary.

use std::sync::Arc;
use std::time::Duration;

use super::relay::ScriptedRelay;
use super::suite::{fixed, run_for, send, start_queue};
use crate::clock::Clock;
use crate::queue::Queue;
use crate::storage::Storage;

fn start(
    store: &Arc<dyn Storage>,
    relay: &Arc<ScriptedRelay>,
    clock: Clock,
) -> crate::QueueBuilder {
    start_queue(store, relay, fixed(Duration::from_secs(600)), clock)
}

/// `(domain, messages, recipients)` as the queue keeps them, by domain.
fn kept(queue: &Queue) -> Option<Vec<(String, u64, u64)>> {
    let mut all: Vec<_> = queue
        .domain_tallies()?
        .into_iter()
        .map(|t| (t.domain, t.messages, t.recipients))
        .collect();
    all.sort();
    Some(all)
}

/// Row "domain counts": a local store's queue counts pending recipients per domain as
/// outcomes are stored (a delivered recipient leaves its domain's count) and counts the same
/// after a restart, from what the store gives with its schedule; a shared store's queue
/// keeps none (other nodes change the store).
pub async fn domain_counts_follow_outcomes_and_survive_a_restart(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    for busy in ["b@y.test", "b2@y.test", "c@z.test"] {
        relay.always(busy, "450 4.2.0 busy");
    }
    let clock = Clock::new();
    let queue = start(&store, &relay, clock)
        .start()
        .await
        .expect("queue starts");
    send(&queue, "s@src.test", &["a@x.test", "b@y.test", "B2@Y.test"]).await;
    send(&queue, "s@src.test", &["c@z.test"]).await;
    run_for(Duration::from_secs(10)).await;
    assert_eq!(relay.deliveries_to("a@x.test"), 1);
    let expected = vec![("y.test".to_owned(), 1, 2), ("z.test".to_owned(), 1, 1)];
    if store.is_shared() {
        assert_eq!(kept(&queue), None);
        return;
    }
    assert_eq!(
        kept(&queue),
        Some(expected.clone()),
        "after the first attempts"
    );
    queue.shutdown(Duration::from_secs(5)).await;

    let queue = start(&store, &relay, clock)
        .start()
        .await
        .expect("queue restarts");
    run_for(Duration::from_secs(1)).await;
    assert!(!queue.is_loading());
    assert_eq!(kept(&queue), Some(expected), "after a restart");
}
