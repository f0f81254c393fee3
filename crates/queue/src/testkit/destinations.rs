//! Behaviour-suite rows about destinations: what every store must keep for them.

use std::sync::Arc;
use std::time::Duration;

use super::relay::ScriptedRelay;
use super::suite::{run_for, send};
use crate::clock::Clock;
use crate::queue::Queue;
use crate::storage::Storage;

fn builder(
    store: &Arc<dyn Storage>,
    relay: &Arc<ScriptedRelay>,
    clock: Clock,
) -> crate::QueueBuilder {
    Queue::builder(store.clone(), relay.clone())
        .clock(clock)
        .node("envoi.test")
}

/// A suspension is stored: a restart keeps it, a resume (stored too) delivers the mail.
pub async fn suspension_survives_a_restart(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    let clock = Clock::new();
    let queue = builder(&store, &relay, clock).start().await.unwrap();
    queue
        .suspend("dst.test", Some(Duration::from_secs(7200)), "planned work")
        .await
        .unwrap();
    send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(10)).await;
    queue.shutdown(Duration::from_secs(1)).await;

    let queue = builder(&store, &relay, clock).start().await.unwrap();
    run_for(Duration::from_secs(600)).await;
    assert!(relay.calls().is_empty(), "attempted while suspended");
    let listed = queue.suspensions().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].destination, "dst.test");
    assert_eq!(listed[0].reason, "planned work");
    assert!(queue.resume("dst.test").await.unwrap());
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.deliveries_to("a@dst.test"), 1);
    queue.shutdown(Duration::from_secs(1)).await;

    let queue = builder(&store, &relay, clock).start().await.unwrap();
    assert!(
        queue.suspensions().await.unwrap().is_empty(),
        "the resume was not stored"
    );
}

/// An unreachable destination's attempt is stored without spending an attempt; a flush
/// delivers.
pub async fn unreachable_destination_spends_no_attempt(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.set_unreachable("dst.test", true);
    let queue = builder(&store, &relay, Clock::new()).start().await.unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    let info = store.info(id).await.unwrap().unwrap();
    assert_eq!(info.attempts, 0);
    let reply = info.recipients[0].last_reply.as_ref().map(|r| r.code);
    assert_eq!(reply, Some(451), "the attempt's reply was not stored");
    relay.set_unreachable("dst.test", false);
    assert_eq!(queue.flush().await, 1);
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.deliveries_to("a@dst.test"), 1);
    assert!(store.info(id).await.unwrap().is_none());
}
