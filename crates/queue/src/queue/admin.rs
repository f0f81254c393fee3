//! Administrative operations: flush, retry, hold, release, delete, bounce.

use envoi_types::{EnhancedCode, QueueId, Reply};

use super::index::{DeleteMark, Refusal};
use super::outcome::Persist;
use super::{attempt, Queue};
use crate::destination::Destination;
use crate::error::QueueError;

/// Messages a flush marks per turn of the queue's lock: well under a millisecond of work
/// (bench/spool/README.md measures the longest wait for the lock during a flush).
pub(super) const FLUSH_CHUNK: usize = 512;

fn refused(id: QueueId, refusal: Refusal) -> QueueError {
    match refusal {
        Refusal::Unknown => QueueError::NotFound(id),
        Refusal::InFlight => QueueError::InFlight(id),
        Refusal::Held => QueueError::Held(id),
    }
}

impl Queue {
    /// Makes every waiting, unheld message due now; returns how many were waiting. Returns
    /// once every message is marked: the scheduler does the attempts. Such a forced attempt
    /// that fails transiently changes neither the attempt count nor the scheduled next
    /// attempt, so flushing during an outage never brings a bounce closer. The messages are
    /// marked a chunk at a time, the queue's lock released in between, so a flush of a large
    /// queue does not hold up enqueues; a message attempted or changed meanwhile is left as
    /// that made it. While the schedule loads, what loads later is made due as it loads.
    pub async fn flush(&self) -> usize {
        let mut run = self.shared.index().begin_flush(self.shared.clock.now());
        while self.shared.flush_chunk(&mut run) {
            self.shared.wake.notify_one();
            tokio::task::yield_now().await;
        }
        self.shared.wake.notify_one();
        self.clear_shared_backoff(None);
        run.waiting()
    }

    /// Makes one message due now. Like [`Queue::flush`], a forced attempt that fails
    /// transiently leaves the attempt count and the schedule as they were.
    ///
    /// # Errors
    /// `NotFound`, `InFlight`, or `Held` (release it instead).
    pub fn retry(&self, id: QueueId) -> Result<(), QueueError> {
        let now = self.shared.clock.now();
        let dest = self
            .shared
            .index()
            .retry(id, now)
            .map_err(|r| refused(id, r))?;
        self.shared.wake.notify_one();
        self.clear_shared_backoff(Some(dest));
        Ok(())
    }

    /// Ends, on a shared store, the back-off a flush or retry lifted here, so that the other
    /// nodes try too (in the background: flush and retry return at once).
    fn clear_shared_backoff(&self, dest: Option<Destination>) {
        if !self.shared.storage.is_shared() {
            return;
        }
        let shared = self.shared.clone();
        tokio::spawn(async move { super::cluster::clear(&shared, dest.as_ref()).await });
    }

    /// Holds a message: it is not attempted until released, but still expires. Durable.
    ///
    /// # Errors
    /// `NotFound`, or the storage error.
    pub async fn hold(&self, id: QueueId) -> Result<(), QueueError> {
        self.set_held(id, true).await
    }

    /// Releases a held message: it is due at its stored next-attempt time. Durable.
    ///
    /// # Errors
    /// `NotFound`, or the storage error.
    pub async fn release(&self, id: QueueId) -> Result<(), QueueError> {
        self.set_held(id, false).await
    }

    /// Holds (`held`) or releases many messages as one change: the answer has one result per
    /// id, in order. The store writes run side by side, so a store with group commit makes
    /// them durable in a few commits rather than one per message.
    pub async fn set_held_many(&self, ids: &[QueueId], held: bool) -> Vec<Result<(), QueueError>> {
        let _one_at_a_time = self.shared.held_changes.lock().await;
        let mut results: Vec<Result<(), QueueError>> =
            ids.iter().map(|&id| self.prepare_held(id, held)).collect();
        let mut writes = tokio::task::JoinSet::new();
        for (index, &id) in ids.iter().enumerate() {
            if results[index].is_ok() {
                let queue = self.clone();
                writes.spawn(async move {
                    let stored = queue
                        .shared
                        .with_storage(queue.shared.storage.set_held(id, held))
                        .await;
                    (index, queue.finish_held(id, held, stored))
                });
            }
        }
        while let Some(joined) = writes.join_next().await {
            match joined {
                Ok((index, result)) => results[index] = result,
                // A write task cannot panic short of a bug in a store; the message keeps the
                // state the index gave it, which the next start corrects from the store.
                Err(error) => tracing::error!(%error, "a hold or release write failed to run"),
            }
        }
        results
    }

    /// Holding marks the index before the store, so the scheduler cannot start an attempt
    /// while the store write is under way; releasing writes the store first, so an attempt
    /// never finds the message still held in the store. Holds and releases run one at a
    /// time, so the last one decides both the store's flag and the index's.
    async fn set_held(&self, id: QueueId, held: bool) -> Result<(), QueueError> {
        let _one_at_a_time = self.shared.held_changes.lock().await;
        self.prepare_held(id, held)?;
        let stored = self
            .shared
            .with_storage(self.shared.storage.set_held(id, held))
            .await;
        self.finish_held(id, held, stored)
    }

    /// The index's half before the store write: a hold takes effect at once.
    fn prepare_held(&self, id: QueueId, held: bool) -> Result<(), QueueError> {
        if held {
            self.mark_held(id, true)?;
            self.shared.fresh().forget(id);
        } else {
            let index = self.shared.index();
            // While loading, a message not read yet may still be stored: the store decides.
            if !index.contains(id) && !index.is_loading() {
                return Err(QueueError::NotFound(id));
            }
        }
        Ok(())
    }

    /// The index's half after the store write: a failed hold is undone, a release takes
    /// effect.
    fn finish_held(
        &self,
        id: QueueId,
        held: bool,
        stored: Result<(), crate::StorageError>,
    ) -> Result<(), QueueError> {
        if let Err(error) = stored {
            if held {
                // The store still says "not held": so must the index.
                let _ = self.mark_held(id, false);
            }
            return Err(match error {
                crate::StorageError::NotFound(id) => QueueError::NotFound(id),
                other => QueueError::Storage(other),
            });
        }
        if !held {
            self.mark_held(id, false)?;
        }
        tracing::info!(event = if held { "held" } else { "released" }, id = %id);
        Ok(())
    }

    fn mark_held(&self, id: QueueId, held: bool) -> Result<(), QueueError> {
        self.shared
            .index()
            .set_held(id, held)
            .map_err(|r| refused(id, r))?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Deletes a message without bouncing it. During an attempt, the attempt stores nothing
    /// and bounces nothing when it ends; once the attempt is storing its outcome, the delete
    /// is refused as `InFlight` (try again when it ends). If the store fails to remove a
    /// message whose attempt already saw the delete, that attempt removes it.
    ///
    /// # Errors
    /// `NotFound`, `InFlight`, or the storage error.
    pub async fn delete(&self, id: QueueId) -> Result<(), QueueError> {
        self.shared.fresh().forget(id);
        let mark = match self.shared.index().mark_deleted(id) {
            Ok(mark) => Some(mark),
            // Not in this node's schedule; a shared store may still hold it.
            Err(Refusal::Unknown) => None,
            Err(refusal) => return Err(refused(id, refusal)),
        };
        let removed = self
            .shared
            .with_storage(self.shared.storage.remove(id))
            .await;
        match (mark, &removed) {
            (Some(DeleteMark::Idle), Ok(_)) => self.shared.finish(id, None),
            (Some(DeleteMark::Idle), Err(_)) => {
                self.shared.index().put_back(id);
                self.shared.wake.notify_one();
            }
            (Some(DeleteMark::DuringAttempt), Err(_)) => self.shared.index().unmark_deleted(id),
            // A page of the schedule read before the removal must not bring it back.
            (None, Ok(true)) => self.shared.index().note_removed(id),
            (Some(DeleteMark::DuringAttempt), Ok(_)) | (None, _) => {}
        }
        if !removed? {
            return Err(QueueError::NotFound(id));
        }
        // Also when this node's index did not hold it (its size may have been counted).
        self.shared.bytes.removed(id);
        tracing::info!(event = "deleted", id = %id);
        Ok(())
    }

    /// Fails every pending recipient now: the sender gets a bounce (unless it is `<>`) and the
    /// message leaves the queue.
    ///
    /// # Errors
    /// `NotFound`, `InFlight`, or the storage error.
    pub async fn bounce(&self, id: QueueId) -> Result<(), QueueError> {
        self.shared.index().take(id).map_err(|r| refused(id, r))?;
        self.shared.fresh().forget(id);
        let result = self.bounce_taken(id).await;
        match &result {
            Ok(next) => self.shared.finish(id, *next),
            Err(QueueError::NotFound(_)) => self.shared.finish(id, None),
            // Nothing changed: the message keeps its schedule.
            Err(_) => self.shared.index().put_back(id),
        }
        self.shared.wake.notify_one();
        result.map(|_| ())
    }

    async fn bounce_taken(&self, id: QueueId) -> Result<Option<std::time::SystemTime>, QueueError> {
        let message = self
            .shared
            .with_storage(self.shared.storage.get(id))
            .await?
            .ok_or(QueueError::NotFound(id))?;
        let reply = Reply::new(
            550,
            EnhancedCode::new(5, 0, 0),
            "Message bounced by the administrator",
        );
        tracing::info!(event = "admin-bounce", id = %id);
        Ok(attempt::fail_pending(&self.shared, &message, &reply, Persist::Once).await?)
    }
}
