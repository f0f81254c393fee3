//! The queue refuses mail as soon as its store cannot take it, not only after a body was read
//! and its write failed: a store that reports itself full or failing, or whose last write
//! failed, makes [`Queue::accepting`] say so, and the queue recovers on its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::time::Duration;

use envoi_queue::health::FAILED_WRITE_HOLD;
use envoi_queue::testkit::suite::{envelope, run_for, send};
use envoi_queue::testkit::{FaultyStore, ScriptedRelay};
use envoi_queue::{MemoryStore, Queue, StorageError, StoreHealth};

const FULL: &str = "452 4.3.1 Insufficient system storage, try again later\r\n";
const FAILING: &str = "451 4.3.0 Local error in processing, try again later\r\n";

async fn start(store: MemoryStore) -> (std::sync::Arc<FaultyStore>, Queue) {
    let store = FaultyStore::new(store);
    let queue = Queue::builder(store.clone(), ScriptedRelay::new())
        .start()
        .await
        .unwrap();
    (store, queue)
}

fn refusal(queue: &Queue) -> Option<String> {
    queue.accepting().reply().map(|r| r.to_wire())
}

#[tokio::test(start_paused = true)]
async fn a_store_that_reports_full_or_failing_refuses_mail_until_it_recovers() {
    let (store, queue) = start(MemoryStore::new()).await;
    assert!(queue.accepting().is_accepting());

    store.report_health(StoreHealth::Full("12 MiB free, below 64 MiB".into()));
    let full = queue.accepting();
    assert_eq!(full.name(), "full");
    assert_eq!(refusal(&queue).as_deref(), Some(FULL));
    assert!(full.reason().unwrap().contains("12 MiB free"), "{full:?}");

    store.report_health(StoreHealth::Failing("database connection lost".into()));
    let failing = queue.accepting();
    assert_eq!(failing.name(), "failing");
    assert_eq!(refusal(&queue).as_deref(), Some(FAILING));
    assert!(failing.reason().unwrap().contains("connection lost"));

    store.report_health(StoreHealth::Ok);
    assert!(queue.accepting().is_accepting());
    send(&queue, "s@src.test", &["a@dst.test"]).await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_refuses_mail_until_a_write_succeeds() {
    let memory = MemoryStore::new();
    let (_store, queue) = start(memory.clone()).await;
    memory.fail_next_write(StorageError::Io("EIO on write".into()));
    let error = queue
        .enqueue(envelope(&queue, "s@src.test", &["a@dst.test"]))
        .await
        .unwrap_err();
    assert_eq!(error.reply().to_wire(), FAILING);
    assert_eq!(refusal(&queue).as_deref(), Some(FAILING));
    assert!(queue.accepting().reason().unwrap().contains("EIO on write"));

    // A session that was past MAIL already writes, and its success ends the refusal.
    send(&queue, "s@src.test", &["a@dst.test"]).await;
    assert!(queue.accepting().is_accepting());
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_refuses_mail_only_for_a_while() {
    let memory = MemoryStore::new();
    let (_store, queue) = start(memory.clone()).await;
    memory.fail_next_write(StorageError::Io("EIO on write".into()));
    let env = envelope(&queue, "s@src.test", &["a@dst.test"]);
    queue.enqueue(env).await.unwrap_err();

    // Every MAIL is refused meanwhile, so no write can end it: time does.
    run_for(FAILED_WRITE_HOLD - Duration::from_millis(100)).await;
    assert_eq!(queue.accepting().name(), "failing");
    run_for(Duration::from_millis(200)).await;
    assert!(queue.accepting().is_accepting(), "{:?}", queue.accepting());
}

#[tokio::test(start_paused = true)]
async fn a_write_refused_for_a_duplicate_id_or_a_full_store_is_not_a_failing_store() {
    let memory = MemoryStore::new();
    let (_store, queue) = start(memory.clone()).await;
    // Full is the store's own report (health), not a single message's write: a large message
    // that did not fit must not refuse the small ones that follow.
    memory.fail_next_write(StorageError::Full("quota".into()));
    let env = envelope(&queue, "s@src.test", &["a@dst.test"]);
    queue.enqueue(env).await.unwrap_err();
    assert!(queue.accepting().is_accepting(), "{:?}", queue.accepting());
}
