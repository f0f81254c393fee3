//! The queue: accepts envelopes, schedules attempts, applies their outcomes.
//!
//! # Layout
//! - `builder`: [`QueueBuilder`], every setting with its default, and the start.
//! - `index`: the in-memory due index (no bodies), with its counts by state.
//! - `lanes`: per-destination ready queues, served round-robin.
//! - `limits`: per-destination limits (in flight, starts per second) and their defaults.
//! - `loader`: the stored schedule read at start-up, the first page at once, the rest after.
//! - `scheduler`: the task that starts due attempts within the concurrency limit.
//! - `poll`: when a shared store is polled for work other nodes made due.
//! - `attempt`: one attempt of one message, from claim to the relay's answer.
//! - `outcome`: the durable record of an attempt's outcome, kept until the store takes it.
//! - `uncommitted`: the outcomes waiting for the store, which pause delivery and new mail.
//! - `retry`: the retry policy, the one owner of expiry.
//! - `fresh`: messages just stored, kept for their first attempt.
//! - `verdict`: per-recipient outcome rules (pure).
//! - `admin`: flush, retry, hold, release, delete, bounce.
//! - `status`: the per-destination view for administrators and metrics.
//! - `tallies`: per-destination delivered / deferred / bounced / connection-failure counters.
//! - `suspend`: suspending and resuming a destination (stored, applied to its lane).
//! - `cluster`: on a shared store, destinations' back-offs and suspensions for every node.
//! - `inspect`: read-only listings, counts and messages for administrators.

mod admin;
mod attempt;
mod builder;
mod bytes;
mod cluster;
mod fresh;
mod index;
mod inspect;
mod lanes;
mod limits;
mod loader;
mod outcome;
mod poll;
mod retry;
mod scheduler;
mod status;
mod suspend;
mod tallies;
mod uncommitted;
mod verdict;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use envoi_types::{Envelope, QueueId};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::bounce::BounceFactory;
use crate::clock::Clock;
use crate::destination::Destination;
use crate::error::EnqueueError;
use crate::events;
use crate::health::{Acceptance, FailedWrite};
use crate::policy::{apply_all, PrequeuePolicy};
use crate::relay::Relay;
use crate::storage::BodySink;
use crate::storage::{NewMessage, RecipientDomains, ScheduleEntry, Storage, StorageError};

pub use builder::QueueBuilder;
use fresh::Fresh;
use index::Index;
use retry::RetryPolicy;
use tallies::Tallies;
pub use tallies::{DestinationCounters, DestinationCounts, TRACKED};
use uncommitted::Uncommitted;

/// State shared by the queue handle, the scheduler and the attempts.
struct Shared {
    storage: Arc<dyn Storage>,
    relay: Arc<dyn Relay>,
    /// The backoff and the maximum lifetime: the one owner of expiry.
    retry: RetryPolicy,
    bounces: Arc<dyn BounceFactory>,
    bounce_queue: Option<Queue>,
    policies: Vec<Box<dyn PrequeuePolicy>>,
    clock: Clock,
    node: String,
    lease: Duration,
    /// Delay warnings and attempt history.
    reports: Reports,
    /// The due index. A `parking_lot` mutex for its fair unlock: work done a chunk at a time
    /// (a flush, a loaded page) hands the lock to a waiting enqueue between chunks.
    index: parking_lot::Mutex<Index>,
    /// Messages just stored, for their first attempt (see `fresh`).
    fresh: Mutex<Fresh>,
    /// Attempt outcomes the store has not taken yet; while any waits, delivery pauses.
    uncommitted: Mutex<Uncommitted>,
    /// The last write of new mail that failed, while it refuses mail.
    failed_write: Mutex<FailedWrite>,
    /// Per-destination counters since the start.
    tallies: Mutex<Tallies>,
    /// The sizes of the messages in the queue (the queue-bytes gauge).
    bytes: bytes::QueueBytes,
    /// Orders hold and release, so that the store and the index end with the same flag.
    held_changes: tokio::sync::Mutex<()>,
    /// Wakes the scheduler: new work, a finished attempt, an admin change.
    wake: Arc<Notify>,
    deliveries: Arc<Semaphore>,
    storage_ops: Semaphore,
    /// Cancelled at shutdown: no new enqueue, no new attempt.
    stop_new: CancellationToken,
    /// Cancels the scheduler's token (a child of `stop_new`) when this state is dropped: the
    /// scheduler holds only a weak reference, and this wakes it to find the state gone.
    _stop_scheduler: DropGuard,
    /// Cancelled when the shutdown grace period ends: attempts still running are dropped.
    abort: CancellationToken,
    attempts: TaskTracker,
}

/// What the queue reports beyond failures: delay warnings, and the attempts it remembers.
#[derive(Debug, Clone)]
pub(super) struct Reports {
    /// The delay-warning thresholds (see [`crate::QueueSettings::delay_warnings`]).
    pub delay_warnings: Vec<Duration>,
    /// Attempts kept per message.
    pub history_limit: usize,
}

impl Shared {
    fn index(&self) -> parking_lot::MutexGuard<'_, Index> {
        // Index methods check before they change, so a panic cannot leave it inconsistent
        // (and this mutex does not poison).
        self.index.lock()
    }

    /// One chunk of a flush; false once it is done. The lock goes straight to a waiting
    /// enqueue or attempt after it: a plain unlock lets the flush take it again before the
    /// waiter wakes, chunk after chunk.
    fn flush_chunk(&self, run: &mut index::FlushRun) -> bool {
        let mut index = self.index();
        let more = index.flush_chunk(run, admin::FLUSH_CHUNK);
        parking_lot::MutexGuard::unlock_fair(index);
        more
    }

    fn fresh(&self) -> MutexGuard<'_, Fresh> {
        // Fresh keeps its byte count beside its map in one method each; no panic in between.
        self.fresh
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn uncommitted(&self) -> MutexGuard<'_, Uncommitted> {
        // Each method changes its map in one call; no panic in between.
        self.uncommitted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn failed_write(&self) -> MutexGuard<'_, FailedWrite> {
        // One assignment per method; no panic in between.
        self.failed_write
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn tallies(&self) -> MutexGuard<'_, Tallies> {
        // Counters only; each method finishes its change before it could panic.
        self.tallies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes new messages, remembering whether the write failed.
    async fn write(&self, messages: Vec<NewMessage>) -> Result<(), StorageError> {
        let result = self.with_storage(self.storage.write(messages)).await;
        self.failed_write().record(result.as_ref().map(|_| ()));
        result
    }

    /// Runs a storage call within the storage concurrency limit.
    async fn with_storage<T, F>(&self, call: F) -> Result<T, StorageError>
    where
        F: std::future::Future<Output = Result<T, StorageError>>,
    {
        let _permit = self
            .storage_ops
            .acquire()
            .await
            .map_err(|_| StorageError::Unavailable("queue closed".into()))?;
        call.await
    }

    /// Stores envelopes as new messages due now and schedules them.
    async fn store_new(&self, envelopes: Vec<Envelope>) -> Result<Vec<QueueId>, EnqueueError> {
        let now = self.clock.now();
        let messages: Vec<NewMessage> = envelopes
            .into_iter()
            .filter(|e| !e.recipients.is_empty())
            .map(|e| NewMessage::new(e, now))
            .collect();
        self.store_messages(messages).await
    }

    /// Stores new messages in one all-or-nothing write and schedules them.
    async fn store_messages(
        &self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<QueueId>, EnqueueError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let entries: Vec<(ScheduleEntry, Destination)> = messages
            .iter()
            .map(|m| (schedule_entry(m), self.destination_of(&m.envelope)))
            .collect();
        let summaries: Vec<_> = messages
            .iter()
            .map(|m| events::Accepted {
                id: m.id,
                sender: m.envelope.sender.clone(),
                recipients: m.envelope.recipients.len(),
                size: m.envelope.message.len(),
                message_id: m.envelope.message.header("Message-ID"),
            })
            .collect();
        let started = Instant::now();
        match self.fresh_lease() {
            None => self.write(messages).await?,
            Some(leased_until) => {
                // Kept before the write (the store takes the messages) and only if it
                // succeeds: the scheduler may start the first attempt once they are indexed.
                let kept: Vec<_> = messages.iter().map(fresh::as_stored).collect();
                self.write(messages).await?;
                let mut fresh = self.fresh();
                for message in kept {
                    fresh.keep(message, leased_until);
                }
            }
        }
        metrics::histogram!(events::STORE_SECONDS).record(started.elapsed().as_secs_f64());
        self.schedule(&entries);
        for (accepted, (entry, _)) in summaries.iter().zip(&entries) {
            self.bytes.added(entry.id, accepted.size as u64);
        }
        for accepted in &summaries {
            events::accepted(accepted);
        }
        Ok(entries.iter().map(|(e, _)| e.id).collect())
    }

    /// Whether messages written now are kept for their first attempt, and until when they are
    /// leased to this node: `Some(None)` for a local store (no lease needed), `Some(Some(t))`
    /// for a shared store that leases what this node writes (measured from before the write,
    /// which the store's lease outlasts), `None` for a shared store without such a lease.
    fn fresh_lease(&self) -> Option<Option<std::time::SystemTime>> {
        if !self.storage.is_shared() {
            return Some(None);
        }
        let lease = self.storage.write_lease()?;
        let until = self.clock.now().checked_add(lease)?;
        Some(Some(until))
    }

    /// The destination a message is scheduled under: its first recipient's.
    fn destination_of(&self, envelope: &Envelope) -> Destination {
        envelope
            .recipients
            .first()
            .map_or_else(Destination::unsorted, |r| self.relay.destination(r))
    }

    /// Adds entries to the index, each in its destination's lane, and wakes the scheduler.
    fn schedule(&self, entries: &[(ScheduleEntry, Destination)]) {
        if entries.is_empty() {
            return;
        }
        let mut index = self.index();
        for (entry, dest) in entries {
            index.insert(entry, dest.clone());
        }
        drop(index);
        self.wake.notify_one();
    }
}

fn schedule_entry(message: &NewMessage) -> ScheduleEntry {
    ScheduleEntry {
        id: message.id,
        next_attempt: message.meta.next_attempt,
        arrival: message.envelope.arrival,
        held: message.meta.held,
        attempts: message.meta.attempts,
        domains: Some(RecipientDomains::pending(&message.meta.recipients)),
    }
}

/// A durable delivery queue. Cloning gives another handle to the same queue.
///
/// Dropping the last handle without [`Queue::shutdown`] lets the attempts in flight finish
/// and commit; then the scheduler task ends and the queue's state is freed.
#[derive(Clone)]
pub struct Queue {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("node", &self.shared.node)
            .field("queued", &self.shared.index().len())
            .finish()
    }
}

impl Queue {
    /// Starts building a queue over `storage`, delivering through `relay`.
    pub fn builder(storage: Arc<dyn Storage>, relay: Arc<dyn Relay>) -> QueueBuilder {
        QueueBuilder::new(storage, relay)
    }

    /// Takes responsibility for `envelope`: runs the prequeue policies, keeps each mailbox once
    /// per envelope (the first of the recipients [`envoi_types::Address::mailbox_key`] calls
    /// the same), stores every resulting envelope durably in one all-or-nothing write,
    /// schedules a first attempt for each now, and returns their ids (none when the policies
    /// dropped the message).
    ///
    /// # Errors
    /// An [`EnqueueError`] (whose [`EnqueueError::reply`] is the SMTP answer); then nothing of
    /// the message is kept.
    pub async fn enqueue(&self, envelope: Envelope) -> Result<Vec<QueueId>, EnqueueError> {
        if self.shared.stop_new.is_cancelled() {
            return Err(EnqueueError::ShuttingDown);
        }
        let mut envelopes = apply_all(&self.shared.policies, envelope);
        for envelope in &mut envelopes {
            // One mailbox given twice (or made twice by aliases) is delivered once, as
            // Postfix's cleanup does.
            let removed = envelope.dedup_recipients();
            if removed > 0 {
                tracing::debug!(removed, "duplicate recipients dropped");
            }
        }
        self.shared.store_new(envelopes).await
    }

    /// A sink for the content of a message still arriving, at most `limit` octets: the
    /// streaming enqueue. Write the content after the head kept in memory, finish it, and
    /// [`Queue::enqueue`] the envelope whose message is [`StagedBody::after`] the head. Refused
    /// during shutdown, or when the store cannot take a body.
    ///
    /// # Errors
    /// [`EnqueueError::ShuttingDown`], or the store's refusal.
    pub async fn open_body(&self, limit: usize) -> Result<Box<dyn BodySink>, EnqueueError> {
        if self.shared.stop_new.is_cancelled() {
            return Err(EnqueueError::ShuttingDown);
        }
        Ok(self.shared.storage.open_body(limit).await?)
    }

    /// Whether the queue takes new mail now. It does not, first reason first: while some
    /// attempt's outcome waits for the store ([`Acceptance::StorageFull`] when the store said
    /// it is full, else [`Acceptance::StorageFailing`]; delivery is paused meanwhile); while
    /// the store reports itself full or failing ([`Storage::health`]); for
    /// [`crate::health::FAILED_WRITE_HOLD`] after a write of new mail failed with an I/O
    /// error, unless a later write succeeded. An SMTP edge asks before it reads a body and
    /// answers [`Acceptance::reply`].
    pub fn accepting(&self) -> Acceptance {
        let waiting = self.shared.uncommitted().acceptance();
        if !waiting.is_accepting() {
            return waiting;
        }
        let store = Acceptance::from_store(self.shared.storage.health());
        if !store.is_accepting() {
            return store;
        }
        self.shared.failed_write().acceptance()
    }

    /// How many attempt outcomes wait for the store (kept in memory; a restart loses them,
    /// and then what was in flight may be sent again).
    pub fn uncommitted(&self) -> usize {
        self.shared.uncommitted().len()
    }

    /// How many messages the scheduler knows about: while the stored schedule is still being
    /// read ([`Queue::is_loading`]), only those read so far and those stored since.
    pub fn len(&self) -> usize {
        self.shared.index().len()
    }

    /// True while the stored schedule is still being read in the background after start-up.
    /// Meanwhile the queue takes mail and attempts what it has read; a retry or bounce of a
    /// message not read yet answers `NotFound`, while hold, release and delete reach it.
    pub fn is_loading(&self) -> bool {
        self.shared.index().is_loading()
    }

    /// True when no message is queued (never while the stored schedule is still being read).
    pub fn is_empty(&self) -> bool {
        let index = self.shared.index();
        index.len() == 0 && !index.is_loading()
    }

    /// The queue's clock.
    pub fn clock(&self) -> Clock {
        self.shared.clock
    }

    /// Stops the queue: no new enqueue or attempt; attempts in flight get `grace` to finish
    /// and commit their outcome, then are dropped (their messages keep their stored state and
    /// are attempted again after a restart). Returns when every attempt has ended.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.stop_new.cancel();
        self.shared.wake.notify_one();
        self.shared.attempts.close();
        if tokio::time::timeout(grace, self.shared.attempts.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "attempts still running after the grace period; dropping them"
            );
            self.shared.abort.cancel();
            self.shared.attempts.wait().await;
        }
        tracing::info!("queue stopped");
    }
}
