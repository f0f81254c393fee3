//! When the queue reads a message back from its store before an attempt, and what it does
//! when the store cannot decode it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use envoi_queue::storage::{
    AttemptCommit, Lease, ListQuery, MessageInfo, NewMessage, ScheduleEntry, StateCounts,
    StoredMessage,
};
use envoi_queue::testkit::suite::{envelope, run_for, send};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{MemoryStore, Queue, Storage, StorageError};
use envoi_types::QueueId;

/// The memory store, counting claims; optionally every claim finds a corrupt record, and
/// optionally it says it is shared between nodes (and leases what it writes for a while).
#[derive(Default)]
struct Probe {
    inner: MemoryStore,
    claims: AtomicUsize,
    rotten: bool,
    shared: bool,
    write_lease: Option<Duration>,
}

impl Probe {
    fn claims(&self) -> usize {
        self.claims.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Storage for Probe {
    async fn write(&self, m: Vec<NewMessage>) -> Result<(), StorageError> {
        self.inner.write(m).await
    }
    async fn load_schedule(&self) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.inner.load_schedule().await
    }
    async fn claim(&self, id: QueueId, l: &Lease) -> Result<Option<StoredMessage>, StorageError> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        if self.rotten {
            return Err(StorageError::Corrupt {
                id: Some(id),
                detail: "bad bytes".into(),
            });
        }
        self.inner.claim(id, l).await
    }
    async fn commit_attempt(&self, id: QueueId, c: AttemptCommit) -> Result<(), StorageError> {
        self.inner.commit_attempt(id, c).await
    }
    async fn remove(&self, id: QueueId) -> Result<bool, StorageError> {
        self.inner.remove(id).await
    }
    async fn set_held(&self, id: QueueId, held: bool) -> Result<(), StorageError> {
        self.inner.set_held(id, held).await
    }
    async fn get(&self, id: QueueId) -> Result<Option<StoredMessage>, StorageError> {
        self.inner.get(id).await
    }
    async fn info(&self, id: QueueId) -> Result<Option<MessageInfo>, StorageError> {
        self.inner.info(id).await
    }
    async fn list(&self, q: &ListQuery) -> Result<Vec<MessageInfo>, StorageError> {
        self.inner.list(q).await
    }
    async fn count_by_state(&self) -> Result<StateCounts, StorageError> {
        self.inner.count_by_state().await
    }
    fn is_shared(&self) -> bool {
        self.shared
    }
    fn write_lease(&self) -> Option<Duration> {
        self.write_lease
    }
}

#[tokio::test(start_paused = true)]
async fn a_corrupt_message_is_dropped_from_the_schedule() {
    let store = Arc::new(Probe {
        rotten: true,
        ..Probe::default()
    });
    // Stored before this queue started (as after a restart), so its attempt reads the store.
    let relay = ScriptedRelay::new();
    let first = Queue::builder(store.clone(), relay.clone())
        .start()
        .await
        .unwrap();
    let message = NewMessage::new(
        envelope(&first, "s@src.test", &["a@dst.test"]),
        first.clock().now(),
    );
    first.shutdown(Duration::ZERO).await;
    store.inner.write(vec![message]).await.unwrap();
    let queue = Queue::builder(store.clone(), relay.clone())
        .start()
        .await
        .unwrap();
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(store.claims(), 1, "a corrupt record was claimed again");
    assert!(relay.calls().is_empty());
    assert!(queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_new_message_is_attempted_without_reading_it_back() {
    let store = Arc::new(Probe::default());
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(store.clone(), relay.clone())
        .start()
        .await
        .unwrap();
    send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.calls().len(), 1);
    assert_eq!(store.claims(), 0, "the first attempt read the store");
    assert!(queue.is_empty());
}

/// Claims for a message attempted twice (the first attempt defers it): a retry always reads
/// the store; the first attempt does only for a shared store that does not lease what this
/// node writes, or whose lease on it is shorter than an attempt's (the queue's lease is 15
/// minutes).
#[tokio::test(start_paused = true)]
async fn a_retry_and_an_unleased_shared_store_read_the_message_from_the_store() {
    let hour = Some(Duration::from_secs(3600));
    let minute = Some(Duration::from_secs(60));
    for (shared, write_lease, expected) in [
        (false, None, 1),
        (true, None, 2),
        (true, hour, 1),
        (true, minute, 2),
    ] {
        let store = Arc::new(Probe {
            shared,
            write_lease,
            ..Probe::default()
        });
        let relay = ScriptedRelay::new();
        relay.then("a@dst.test", &["451 4.4.1 busy", "250 ok"]);
        let queue = Queue::builder(store.clone(), relay.clone())
            .backoff(|_: &envoi_types::Envelope, _: u32| Some(Duration::from_secs(60)))
            .start()
            .await
            .unwrap();
        send(&queue, "s@src.test", &["a@dst.test"]).await;
        run_for(Duration::from_secs(90)).await;
        let case = format!("shared={shared} write_lease={write_lease:?}");
        assert_eq!(relay.calls().len(), 2, "{case}");
        assert_eq!(store.claims(), expected, "{case}");
        assert!(queue.is_empty());
    }
}
