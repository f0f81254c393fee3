//! Enqueue: prequeue policies, all-or-nothing storage, the 451/452 replies.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::policy::{AddDateHeader, SplitByDomain};
use envoi_queue::testkit::suite::{envelope, run_for};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{EnqueueError, MemoryStore, Queue, Storage, StorageError};

#[tokio::test(start_paused = true)]
async fn storage_failure_is_451_and_keeps_nothing() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(Arc::new(store.clone()), relay.clone())
        .policy(SplitByDomain)
        .start()
        .await
        .unwrap();
    store.fail_next_write(StorageError::Io("disk on fire".into()));
    let env = envelope(&queue, "s@src.test", &["a@one.test", "b@two.test"]);
    let error = queue.enqueue(env.clone()).await.unwrap_err();
    assert_eq!(
        error.reply().to_wire(),
        "451 4.3.0 Local error in processing, try again later\r\n"
    );
    assert!(store.is_empty(), "a copy was kept");
    run_for(Duration::from_secs(10)).await;
    assert!(relay.calls().is_empty());

    store.fail_next_write(StorageError::Full("ENOSPC".into()));
    let error = queue.enqueue(env.clone()).await.unwrap_err();
    assert!(matches!(
        error,
        EnqueueError::Storage(StorageError::Full(_))
    ));
    assert_eq!(error.reply().code, 452);
    assert_eq!(error.reply().enhanced.to_string(), "4.3.1");
    assert!(store.is_empty());

    let ids = queue.enqueue(env).await.unwrap();
    assert_eq!(ids.len(), 2, "split by domain gives two envelopes");
}

#[tokio::test(start_paused = true)]
async fn policies_run_before_storing() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    relay.set_latency(Duration::from_secs(1000));
    let queue = Queue::builder(Arc::new(store.clone()), relay)
        .policy(AddDateHeader)
        .policy(SplitByDomain)
        .start()
        .await
        .unwrap();
    let ids = queue
        .enqueue(envelope(
            &queue,
            "s@src.test",
            &["a@one.test", "b@two.test", "c@one.test"],
        ))
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    let first = store.get(ids[0]).await.unwrap().unwrap();
    assert!(first.envelope.message.header("Date").is_some());
    let mut all = Vec::new();
    for id in &ids {
        let info = store.info(*id).await.unwrap().unwrap();
        let rcpts: Vec<String> = info
            .recipients
            .iter()
            .map(|r| r.recipient.to_string())
            .collect();
        all.push(rcpts);
    }
    assert_eq!(
        all,
        vec![vec!["a@one.test", "c@one.test"], vec!["b@two.test"]]
    );
}
