//! An in-memory store: python-slimta's `DictStorage`. Nothing survives the process.
//!
//! Useful for tests and throw-away setups. "Durable" here means "visible to every later call on
//! this store", which is all a restart within one process (a new [`crate::Queue`] on the same
//! store) needs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use envoi_types::{Envelope, QueueId};

use super::{
    AttemptCommit, Disposition, Lease, ListQuery, MessageInfo, MessageMeta, NewMessage,
    RecipientDomains, ScheduleEntry, StateCounts, Storage, StorageError, StoredMessage, Suspension,
};

#[derive(Debug, Default)]
struct Inner {
    messages: BTreeMap<QueueId, (Envelope, MessageMeta)>,
    suspensions: HashMap<String, Suspension>,
    fail_next: Option<StorageError>,
}

/// The in-memory store. Cloning shares the same messages.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next mutating call fail with `error` and change nothing (fault tests).
    pub fn fail_next_write(&self, error: StorageError) {
        self.lock().fail_next = Some(error);
    }

    /// How many messages are stored.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// True when no message is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every stored id, in order.
    pub fn ids(&self) -> Vec<QueueId> {
        self.lock().messages.keys().copied().collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied mutation: every mutation
        // below is checked first and applied last.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mutate<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<QueueId, (Envelope, MessageMeta)>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut inner = self.lock();
        if let Some(error) = inner.fail_next.take() {
            return Err(error);
        }
        f(&mut inner.messages)
    }
}

fn insert_all(
    messages: &mut BTreeMap<QueueId, (Envelope, MessageMeta)>,
    new: Vec<NewMessage>,
) -> Result<(), StorageError> {
    let repeated = new
        .iter()
        .enumerate()
        .find(|(i, m)| messages.contains_key(&m.id) || new[..*i].iter().any(|n| n.id == m.id));
    if let Some((_, dup)) = repeated {
        return Err(StorageError::DuplicateId(dup.id));
    }
    for message in new {
        messages.insert(message.id, (message.envelope, message.meta));
    }
    Ok(())
}

#[async_trait]
impl Storage for MemoryStore {
    async fn write(&self, messages: Vec<NewMessage>) -> Result<(), StorageError> {
        self.mutate(|stored| insert_all(stored, messages))
    }

    async fn load_schedule(&self) -> Result<Vec<ScheduleEntry>, StorageError> {
        let mut entries: Vec<ScheduleEntry> = self
            .lock()
            .messages
            .iter()
            .map(|(id, (envelope, meta))| ScheduleEntry {
                id: *id,
                next_attempt: meta.next_attempt,
                arrival: envelope.arrival,
                held: meta.held,
                attempts: meta.attempts,
                domains: Some(RecipientDomains::pending(&meta.recipients)),
            })
            .collect();
        entries.sort_by_key(|e| (e.next_attempt, e.id));
        Ok(entries)
    }

    async fn claim(
        &self,
        id: QueueId,
        _lease: &Lease,
    ) -> Result<Option<StoredMessage>, StorageError> {
        self.get(id).await
    }

    async fn commit_attempt(&self, id: QueueId, commit: AttemptCommit) -> Result<(), StorageError> {
        self.mutate(|stored| {
            let present = stored.contains_key(&id);
            insert_all(stored, commit.bounces)?;
            if !present {
                return Err(StorageError::NotFound(id));
            }
            match commit.disposition {
                Disposition::Remove => {
                    stored.remove(&id);
                }
                Disposition::Retry {
                    next_attempt,
                    attempts,
                    recipients,
                    history,
                } => {
                    if let Some((_, meta)) = stored.get_mut(&id) {
                        meta.next_attempt = next_attempt;
                        meta.attempts = attempts;
                        meta.recipients = recipients;
                        meta.history = history;
                    }
                }
            }
            Ok(())
        })
    }

    async fn remove(&self, id: QueueId) -> Result<bool, StorageError> {
        self.mutate(|stored| Ok(stored.remove(&id).is_some()))
    }

    async fn set_held(&self, id: QueueId, held: bool) -> Result<(), StorageError> {
        self.mutate(|stored| {
            let (_, meta) = stored.get_mut(&id).ok_or(StorageError::NotFound(id))?;
            meta.held = held;
            Ok(())
        })
    }

    async fn get(&self, id: QueueId) -> Result<Option<StoredMessage>, StorageError> {
        Ok(self
            .lock()
            .messages
            .get(&id)
            .map(|(envelope, meta)| StoredMessage {
                id,
                envelope: envelope.clone(),
                meta: meta.clone(),
            }))
    }

    async fn info(&self, id: QueueId) -> Result<Option<MessageInfo>, StorageError> {
        Ok(self
            .lock()
            .messages
            .get(&id)
            .map(|(envelope, meta)| MessageInfo::of(id, envelope, meta)))
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<MessageInfo>, StorageError> {
        let inner = self.lock();
        let start = query
            .after
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        Ok(inner
            .messages
            .range((start, std::ops::Bound::Unbounded))
            .map(|(id, (envelope, meta))| MessageInfo::of(*id, envelope, meta))
            .filter(|info| query.matches(info))
            .take(query.page_size())
            .collect())
    }

    async fn count_by_state(&self) -> Result<StateCounts, StorageError> {
        let mut counts = StateCounts::default();
        for (_, meta) in self.lock().messages.values() {
            counts.add(super::MessageState::of(meta.held, meta.attempts));
        }
        Ok(counts)
    }

    async fn suspensions(&self) -> Result<Vec<Suspension>, StorageError> {
        Ok(self.lock().suspensions.values().cloned().collect())
    }

    async fn suspend(&self, suspension: Suspension) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if let Some(error) = inner.fail_next.take() {
            return Err(error);
        }
        let name = suspension.destination.clone();
        inner.suspensions.insert(name, suspension);
        Ok(())
    }

    async fn resume(&self, destination: &str) -> Result<bool, StorageError> {
        let mut inner = self.lock();
        if let Some(error) = inner.fail_next.take() {
            return Err(error);
        }
        Ok(inner.suspensions.remove(destination).is_some())
    }
}
