//! A message the store cannot decode leaves the schedule; it is not retried forever.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use envoi_queue::storage::{
    AttemptCommit, Lease, ListQuery, MessageInfo, NewMessage, ScheduleEntry, StateCounts,
    StoredMessage,
};
use envoi_queue::testkit::suite::{run_for, send};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{MemoryStore, Queue, Storage, StorageError};
use envoi_types::QueueId;

/// The memory store, except that every claim finds a corrupt record.
struct Rotten {
    inner: MemoryStore,
    claims: AtomicUsize,
}

#[async_trait]
impl Storage for Rotten {
    async fn write(&self, m: Vec<NewMessage>) -> Result<(), StorageError> {
        self.inner.write(m).await
    }
    async fn load_schedule(&self) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.inner.load_schedule().await
    }
    async fn claim(&self, id: QueueId, _: &Lease) -> Result<Option<StoredMessage>, StorageError> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        Err(StorageError::Corrupt {
            id: Some(id),
            detail: "bad bytes".into(),
        })
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
}

#[tokio::test(start_paused = true)]
async fn a_corrupt_message_is_dropped_from_the_schedule() {
    let store = Arc::new(Rotten {
        inner: MemoryStore::new(),
        claims: AtomicUsize::new(0),
    });
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(store.clone(), relay.clone())
        .start()
        .await
        .unwrap();
    send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(
        store.claims.load(Ordering::SeqCst),
        1,
        "a corrupt record was claimed again"
    );
    assert!(relay.calls().is_empty());
    assert!(queue.is_empty());
}
