//! A store that fails on command: the memory store behind switches that make `commit_attempt`
//! fail, slow `set_held` down, count claims, or report a health.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use envoi_types::QueueId;

use crate::storage::{
    AttemptCommit, BodySink, Lease, ListQuery, MemoryStore, MessageInfo, NewMessage, ScheduleEntry,
    StateCounts, Storage, StorageError, StoreHealth, StoredMessage, Suspension,
};

/// After this many claims every claim fails.
const RUNAWAY_CLAIMS: usize = 10_000;

#[derive(Default)]
struct Switches {
    commit_error: Option<StorageError>,
    held_latency: Vec<Duration>,
    panic_claims: usize,
    health: Option<StoreHealth>,
}

/// The [`MemoryStore`] with faults switched on and off by the test.
#[derive(Default)]
pub struct FaultyStore {
    inner: MemoryStore,
    switches: Mutex<Switches>,
    claims: AtomicUsize,
    commits: AtomicUsize,
}

impl FaultyStore {
    /// A store over `inner` with every fault off.
    pub fn new(inner: MemoryStore) -> Arc<Self> {
        Arc::new(Self {
            inner,
            ..Self::default()
        })
    }

    fn lock(&self) -> MutexGuard<'_, Switches> {
        self.switches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every `commit_attempt` fails with `error` (and changes nothing) until called with `None`.
    pub fn fail_commits(&self, error: Option<StorageError>) {
        self.lock().commit_error = error;
    }

    /// The next `set_held` calls wait these delays (tokio time), in order, before acting.
    pub fn delay_set_held(&self, delays: &[Duration]) {
        self.lock().held_latency.extend_from_slice(delays);
    }

    /// The next `n` claims panic (a store bug).
    pub fn panic_on_claims(&self, n: usize) {
        self.lock().panic_claims = n;
    }

    /// [`Storage::health`] answers `health` (`Ok` again once called with `StoreHealth::Ok`).
    pub fn report_health(&self, health: StoreHealth) {
        self.lock().health = Some(health);
    }

    /// How many `claim` calls were made.
    pub fn claims(&self) -> usize {
        self.claims.load(Ordering::SeqCst)
    }

    /// How many `commit_attempt` calls were made, failed ones included.
    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Storage for FaultyStore {
    async fn write(&self, m: Vec<NewMessage>) -> Result<(), StorageError> {
        self.inner.write(m).await
    }
    async fn open_body(&self, limit: usize) -> Result<Box<dyn BodySink>, StorageError> {
        self.inner.open_body(limit).await
    }
    async fn load_schedule(&self) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.inner.load_schedule().await
    }
    async fn claim(&self, id: QueueId, l: &Lease) -> Result<Option<StoredMessage>, StorageError> {
        // A runaway attempt loop becomes a failed assertion on `claims` instead of a test
        // that never ends (paused time does not advance while tasks stay busy).
        if self.claims.fetch_add(1, Ordering::SeqCst) >= RUNAWAY_CLAIMS {
            return Err(StorageError::Unavailable(
                "too many claims: runaway loop".into(),
            ));
        }
        let panics = {
            let mut switches = self.lock();
            let panics = switches.panic_claims > 0;
            switches.panic_claims = switches.panic_claims.saturating_sub(1);
            panics
        };
        assert!(!panics, "scripted store panic");
        self.inner.claim(id, l).await
    }
    async fn commit_attempt(&self, id: QueueId, c: AttemptCommit) -> Result<(), StorageError> {
        self.commits.fetch_add(1, Ordering::SeqCst);
        let failure = self.lock().commit_error.clone();
        match failure {
            Some(error) => Err(error),
            None => self.inner.commit_attempt(id, c).await,
        }
    }
    async fn remove(&self, id: QueueId) -> Result<bool, StorageError> {
        self.inner.remove(id).await
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
    async fn set_held(&self, id: QueueId, held: bool) -> Result<(), StorageError> {
        let delay = {
            let mut switches = self.lock();
            (!switches.held_latency.is_empty()).then(|| switches.held_latency.remove(0))
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
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
    fn health(&self) -> StoreHealth {
        self.lock().health.clone().unwrap_or(StoreHealth::Ok)
    }
    async fn poll_due(
        &self,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.inner.poll_due(now, limit).await
    }
}
