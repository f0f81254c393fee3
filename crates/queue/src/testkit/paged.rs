//! A store whose schedule is read in pages the test lets through: any store behind a wrapper
//! that serves the first page at once and holds every later page, read from the store when
//! asked (its snapshot), until the test opens the gate. What happens meanwhile (deliveries,
//! deletes, holds, enqueues, a shutdown) is what a page from an old snapshot must not undo.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use envoi_types::QueueId;
use tokio::sync::Semaphore;

use crate::storage::{
    AttemptCommit, BodySink, Lease, ListQuery, MessageInfo, NewMessage, QuarantinedRecord,
    RecipientDomains, ScheduleCursor, ScheduleEntry, SchedulePage, StateCounts, Storage,
    StorageError, StoreHealth, StoredMessage, Suspension,
};

/// `inner` with its schedule served in pages: `first` entries, then `rest` per page, each
/// later page held until [`PagedStore::open`].
pub struct PagedStore {
    inner: Arc<dyn Storage>,
    first: usize,
    rest: usize,
    gate: Semaphore,
}

impl PagedStore {
    /// Pages of `inner`'s schedule: `first` entries, then `rest` per page, each held.
    pub fn new(inner: Arc<dyn Storage>, first: usize, rest: usize) -> Arc<Self> {
        Arc::new(Self {
            inner,
            first: first.max(1),
            rest: rest.max(1),
            gate: Semaphore::new(0),
        })
    }

    /// Lets `pages` more pages through.
    pub fn open(&self, pages: usize) {
        self.gate.add_permits(pages);
    }
}

#[async_trait]
impl Storage for PagedStore {
    async fn load_schedule_page(
        &self,
        after: Option<ScheduleCursor>,
        limit: usize,
    ) -> Result<SchedulePage, StorageError> {
        let size = if after.is_none() {
            self.first
        } else {
            self.rest
        };
        let size = if limit == 0 { size } else { size.min(limit) };
        // Read now: the page is this moment's snapshot, however long the gate stays shut.
        let page = self.inner.load_schedule_page(after, size).await?;
        if after.is_some() {
            let permit = self.gate.acquire().await;
            permit
                .map_err(|_| StorageError::Unavailable("gate closed".into()))?
                .forget();
        }
        Ok(page)
    }
    async fn write(&self, m: Vec<NewMessage>) -> Result<(), StorageError> {
        self.inner.write(m).await
    }
    async fn open_body(&self, limit: usize) -> Result<Box<dyn BodySink>, StorageError> {
        self.inner.open_body(limit).await
    }
    async fn load_schedule(&self) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.inner.load_schedule().await
    }
    async fn schedule_domains(
        &self,
        ids: Vec<QueueId>,
    ) -> Result<Vec<(QueueId, RecipientDomains)>, StorageError> {
        self.inner.schedule_domains(ids).await
    }
    async fn claim(&self, id: QueueId, l: &Lease) -> Result<Option<StoredMessage>, StorageError> {
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
    async fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, StorageError> {
        self.inner.quarantined().await
    }
    fn health(&self) -> StoreHealth {
        self.inner.health()
    }
    async fn suspensions(&self) -> Result<Vec<Suspension>, StorageError> {
        self.inner.suspensions().await
    }
    async fn suspend(&self, suspension: Suspension) -> Result<(), StorageError> {
        self.inner.suspend(suspension).await
    }
    async fn resume(&self, destination: &str) -> Result<bool, StorageError> {
        self.inner.resume(destination).await
    }
    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }
    fn write_lease(&self) -> Option<std::time::Duration> {
        self.inner.write_lease()
    }
    async fn due_notice(&self) -> SystemTime {
        self.inner.due_notice().await
    }
    async fn poll_due(
        &self,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.inner.poll_due(now, limit).await
    }
}
