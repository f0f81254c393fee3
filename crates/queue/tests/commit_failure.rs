//! A store that cannot commit an attempt's outcome: the outcome is kept until it can be
//! stored, the relay is never called again for that message meanwhile, delivery pauses, and
//! the queue says it is not accepting mail.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::{run_for, send};
use envoi_queue::testkit::{FaultyStore, ScriptedRelay};
use envoi_queue::{MemoryStore, Queue, Storage, StorageError};
use envoi_types::RecipientState;

fn fixed(delay: Duration) -> impl Fn(&envoi_types::Envelope, u32) -> Option<Duration> {
    move |_, _| Some(delay)
}

async fn start(store: &Arc<FaultyStore>, relay: &Arc<ScriptedRelay>) -> Queue {
    Queue::builder(store.clone(), relay.clone())
        .backoff(fixed(Duration::from_secs(3600)))
        .start()
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_outcome_that_cannot_be_committed_is_kept_and_never_sent_again() {
    let memory = MemoryStore::new();
    let store = FaultyStore::new(memory.clone());
    let relay = ScriptedRelay::new();
    relay.then("b@dst.test", &["451 4.4.1 later"]);
    let queue = start(&store, &relay).await;
    store.fail_commits(Some(StorageError::Io("fsync failed".into())));
    let id = send(&queue, "s@src.test", &["a@dst.test", "b@dst.test"]).await;

    run_for(Duration::from_secs(10 * 60)).await;
    assert_eq!(relay.calls().len(), 1, "the relay was called again");
    assert_eq!(relay.deliveries_to("a@dst.test"), 1);
    assert!(store.commits() > 1, "the outcome was not retried");

    store.fail_commits(None);
    run_for(Duration::from_secs(61)).await;
    let info = memory.info(id).await.unwrap().expect("b still pending");
    let states: Vec<_> = info.recipients.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        vec![RecipientState::Delivered, RecipientState::Pending]
    );
    assert_eq!(info.attempts, 1, "the failed attempt is counted once");

    run_for(Duration::from_secs(3600)).await;
    assert_eq!(relay.deliveries_to("a@dst.test"), 1, "a was sent twice");
    assert_eq!(relay.deliveries_to("b@dst.test"), 1);
    assert!(memory.is_empty());
    assert!(queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn while_an_outcome_waits_delivery_pauses_and_mail_is_refused() {
    let memory = MemoryStore::new();
    let store = FaultyStore::new(memory.clone());
    let relay = ScriptedRelay::new();
    let queue = start(&store, &relay).await;
    assert!(queue.accepting().is_accepting());
    store.fail_commits(Some(StorageError::Full("ENOSPC".into())));
    send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    let refusal = queue.accepting();
    assert_eq!(refusal.name(), "full");
    assert_eq!(
        refusal.reply().unwrap().to_wire(),
        "452 4.3.1 Insufficient system storage, try again later\r\n"
    );
    assert!(
        refusal.reason().unwrap().contains("ENOSPC"),
        "{:?}",
        refusal.reason()
    );
    assert_eq!(queue.uncommitted(), 1);

    store.fail_commits(Some(StorageError::Io("fsync failed".into())));
    // Stored while commits fail (this store still takes writes): not attempted meanwhile.
    let second = send(&queue, "s@src.test", &["b@dst.test"]).await;
    run_for(Duration::from_secs(300)).await;
    let refusal = queue.accepting();
    assert_eq!(refusal.name(), "failing");
    assert_eq!(
        refusal.reply().unwrap().to_wire(),
        "451 4.3.0 Local error in processing, try again later\r\n"
    );
    assert!(
        relay.calls_for("b@dst.test").is_empty(),
        "delivery went on while an outcome waited for the store"
    );

    store.fail_commits(None);
    run_for(Duration::from_secs(61)).await;
    assert!(queue.accepting().is_accepting());
    assert_eq!(queue.uncommitted(), 0);
    assert_eq!(relay.deliveries_to("a@dst.test"), 1);
    assert_eq!(relay.deliveries_to("b@dst.test"), 1);
    assert!(memory.info(second).await.unwrap().is_none());
    assert!(queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_restart_loses_only_the_uncommitted_outcome() {
    let memory = MemoryStore::new();
    let store = FaultyStore::new(memory.clone());
    let relay = ScriptedRelay::new();
    let clock = envoi_queue::Clock::new();
    let queue = Queue::builder(store.clone(), relay.clone())
        .clock(clock)
        .start()
        .await
        .unwrap();
    store.fail_commits(Some(StorageError::Io("fsync failed".into())));
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(5)).await;
    queue.shutdown(Duration::from_secs(1)).await;
    let kept = memory.info(id).await.unwrap().expect("message lost");
    assert_eq!(
        kept.attempts, 0,
        "the stored state is the one before the attempt"
    );

    store.fail_commits(None);
    let queue = Queue::builder(store.clone(), relay.clone())
        .clock(clock)
        .start()
        .await
        .unwrap();
    run_for(Duration::from_secs(1)).await;
    // What was in flight is sent again: at-least-once, as after a crash.
    assert_eq!(relay.deliveries_to("a@dst.test"), 2);
    assert!(memory.is_empty());
    assert!(queue.accepting().is_accepting());
}
