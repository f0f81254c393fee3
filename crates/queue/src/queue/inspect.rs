//! Read-only inspection for administrators: listings, counts, one message, quarantine.
//!
//! Every read goes through the queue's storage-operation limit
//! ([`QueueBuilder::max_storage_ops`](super::QueueBuilder::max_storage_ops)), like the
//! engine's own calls, so an admin scan cannot starve deliveries of storage slots.

use envoi_types::QueueId;

use super::Queue;
use crate::storage::{
    DomainTally, ListQuery, MessageInfo, QuarantinedRecord, StateCounts, StorageError,
    StoredMessage,
};

impl Queue {
    /// Stored messages matching `query`, in id (arrival) order, starting after `query.after`,
    /// at most [`ListQuery::page_size`] of them. No body is read when the store can avoid it.
    ///
    /// # Errors
    /// The storage error.
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<MessageInfo>, StorageError> {
        let storage = &self.shared.storage;
        self.shared.with_storage(storage.list(query)).await
    }

    /// The admin summary of one stored message; `Ok(None)` when it is not stored.
    ///
    /// # Errors
    /// The storage error.
    pub async fn info(&self, id: QueueId) -> Result<Option<MessageInfo>, StorageError> {
        let storage = &self.shared.storage;
        self.shared.with_storage(storage.info(id)).await
    }

    /// One stored message with its body, read without claiming it (an attempt may be under
    /// way); `Ok(None)` when it is not stored.
    ///
    /// # Errors
    /// The storage error.
    pub async fn message(&self, id: QueueId) -> Result<Option<StoredMessage>, StorageError> {
        let storage = &self.shared.storage;
        self.shared.with_storage(storage.get(id)).await
    }

    /// How many stored messages are in each admin state. For a store only this queue
    /// changes ([`crate::Storage::is_shared`] false), once the schedule is loaded, these are
    /// the counts the queue keeps as messages change: no store read. Else (a shared store, or
    /// while loading) the store counts.
    ///
    /// # Errors
    /// The storage error.
    pub async fn count_by_state(&self) -> Result<StateCounts, StorageError> {
        if !self.shared.storage.is_shared() {
            let index = self.shared.index();
            if !index.is_loading() {
                return Ok(index.state_counts());
            }
        }
        let storage = &self.shared.storage;
        self.shared.with_storage(storage.count_by_state()).await
    }

    /// Per recipient domain, the queued messages with pending recipients there and how
    /// many, as the queue keeps them while messages change: no store read. `None` when the
    /// queue cannot keep them whole: a shared store (other nodes change it), the schedule
    /// still loading, or a stored entry whose domains the store did not give. Unordered.
    pub fn domain_tallies(&self) -> Option<Vec<DomainTally>> {
        if self.shared.storage.is_shared() {
            return None;
        }
        self.shared.index().domain_tallies()
    }

    /// Records the store set aside because they could not be decoded.
    ///
    /// # Errors
    /// The storage error.
    pub async fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, StorageError> {
        let storage = &self.shared.storage;
        self.shared.with_storage(storage.quarantined()).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use envoi_types::{Address, Envelope, Sender};

    use crate::storage::{MessageState, NewMessage, Storage};
    use crate::testkit::ScriptedRelay;
    use crate::{ListQuery, MemoryStore, Queue};

    #[tokio::test(start_paused = true)]
    async fn inspection_reads_what_the_store_holds() {
        let store = MemoryStore::new();
        let rcpt = Address::parse("r@dst.test").unwrap();
        let envelope = Envelope::new(
            Sender::Null,
            vec![rcpt],
            b"Subject: x\r\n\r\nhi\r\n".to_vec(),
        );
        // Due in a day: the scheduler leaves it alone while the test reads it.
        let later = std::time::SystemTime::now() + Duration::from_secs(86_400);
        let message = NewMessage::new(envelope, later);
        let id = message.id;
        store.write(vec![message]).await.unwrap();
        let queue = Queue::builder(Arc::new(store), ScriptedRelay::new())
            .start()
            .await
            .unwrap();

        let listed = queue.list(&ListQuery::default()).await.unwrap();
        assert_eq!(listed.iter().map(|i| i.id).collect::<Vec<_>>(), vec![id]);
        let info = queue.info(id).await.unwrap().unwrap();
        assert_eq!(info.state(), MessageState::Active);
        let stored = queue.message(id).await.unwrap().unwrap();
        assert_eq!(
            stored.envelope.message.as_bytes(),
            b"Subject: x\r\n\r\nhi\r\n"
        );
        assert_eq!(queue.count_by_state().await.unwrap().active, 1);
        assert!(queue.quarantined().await.unwrap().is_empty());
        let unknown = envoi_types::QueueId::new();
        assert!(queue.info(unknown).await.unwrap().is_none());
        assert!(queue.message(unknown).await.unwrap().is_none());
    }
}
