//! The storage contract: what a queue store must keep and what each call guarantees.
//!
//! A store keeps, per message, the immutable [`Envelope`] (with its body) and a small mutable
//! [`MessageMeta`] (attempts, next attempt, held flag, per-recipient status). The queue keeps
//! only [`ScheduleEntry`] values in memory and reads bodies when it attempts a message.
//!
//! # Durability
//! Every mutating call is durable when it returns `Ok`: a crash (or power loss) afterwards
//! cannot undo it. A call that returns `Err` has had no effect, or an effect that a later
//! reader cannot tell from none (for example an unreferenced temporary file). Mutations of one
//! message are applied in the order their calls return. A store never retries a failed fsync
//! into a success, and never builds on what a failed fsync may have lost: a store that can no
//! longer trust what it reads back stops for good and answers every call with
//! [`StorageError::Unavailable`] (the daemon then exits, to be restarted).
//!
//! # Quarantine
//! A record a store cannot use (it does not decode, or its body is missing) is set aside with
//! all its bytes, never deleted: [`Storage::claim`] of it answers [`StorageError::Corrupt`],
//! after which the queue drops it from its schedule, and [`Storage::quarantined`] lists it.
//!
//! # Shared stores
//! A store shared by several nodes implements [`Storage::claim`] with a lease, so that two
//! nodes never attempt one message at once, and [`Storage::poll_due`] so that a node learns of
//! work other nodes enqueued. Local stores use the defaults. The queue is the same either way.
//! Destinations' state is cluster-wide on a shared store: the queue reads the stored
//! suspensions and back-offs ([`Storage::shared_backoffs`]) at every poll and applies them.
//!
//! # Streaming bodies
//! [`Storage::open_body`] takes a message's content while it arrives ([`body`]); the staged
//! body becomes part of a message only through [`Storage::write`], and until then nothing of it
//! is visible or kept across a restart.
//!
//! # Layout
//! - [`body`]: [`BodySink`] and [`StagedBody`], the streaming enqueue's pieces.
//! - [`history`]: [`MessageHistory`], the last attempts and the delay warnings sent.
//! - [`memory`]: [`MemoryStore`], the in-memory store (no persistence).
//! - [`query`]: admin listing filters shared by every store.
//! - [`schedule`]: [`ScheduleEntry`] and the paged read of the schedule at start-up.

pub mod body;
pub mod domains;
pub mod history;
pub mod memory;
pub mod query;
pub mod schedule;

use std::time::SystemTime;

use async_trait::async_trait;
use envoi_types::{Envelope, QueueId, RecipientState, RecipientStatus};
use serde::{Deserialize, Serialize};

pub use body::{BodySink, MemorySink, StagedBody};
pub use domains::{DomainTally, RecipientDomains};
pub use history::{AttemptRecord, AttemptReply, MessageHistory};
pub use memory::MemoryStore;
pub use query::{ListQuery, MessageState, StateCounts};
pub use schedule::{ScheduleCursor, ScheduleEntry, SchedulePage};

/// Why a storage call failed. The queue maps these to SMTP replies in one place
/// ([`crate::EnqueueError::reply`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No space left (ENOSPC or a quota): the edge answers `452 4.3.1`.
    #[error("storage is full: {0}")]
    Full(String),
    /// Any other I/O or database failure, a failed fsync included: `451 4.3.0`.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// No message with this id is stored.
    #[error("no message {0} in storage")]
    NotFound(QueueId),
    /// A new message's id is already stored, or appears twice in one write: nothing of the
    /// write was stored. The edge answers `451 4.3.0`, as for any other storage failure.
    #[error("id {0} is already stored")]
    DuplicateId(QueueId),
    /// A stored record cannot be decoded.
    #[error("stored record {id:?} is corrupt: {detail}")]
    Corrupt {
        /// The record's id, when it could be read.
        id: Option<QueueId>,
        /// What is wrong with it.
        detail: String,
    },
    /// The store cannot be used at all (missing directory, locked by another process...), or
    /// has stopped for good after a failure this process cannot recover from (a failed fsync,
    /// a panic in its writer): only a restart opens it again.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store does not offer this (an optional method it does not implement).
    #[error("not supported by this store: {0}")]
    Unsupported(String),
}

/// A destination whose delivery an administrator stopped: nothing is attempted to it until
/// `until` (for ever when `None`) or a resume. Its messages still expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// The destination's name ([`crate::Destination::as_str`]): a domain or a route name.
    pub destination: String,
    /// When it ends by itself; `None`: at a resume only.
    pub until: Option<SystemTime>,
    /// Why, as the administrator said it (may be empty).
    pub reason: String,
}

/// A destination a node could not reach, backed off for every node sharing the store
/// ([`Storage::share_backoff`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedBackoff {
    /// The destination's name ([`crate::Destination::as_str`]).
    pub destination: String,
    /// Nothing starts to it before then.
    pub until: SystemTime,
    /// Consecutive attempts that could not connect, on the node that recorded it.
    pub failures: u32,
    /// The last failure's reply.
    pub error: String,
}

/// What a store says of itself before any write: see [`Storage::health`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreHealth {
    /// It can take mail, as far as it can tell.
    Ok,
    /// It has no room for mail (the edge answers `452 4.3.1`).
    Full(String),
    /// It cannot store mail now (the edge answers `451 4.3.0`).
    Failing(String),
}

/// The mutable state of one queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// Scheduled attempts that failed transiently so far. An attempt forced early (flush,
    /// retry) that fails is not counted: it does not use up the backoff.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt: SystemTime,
    /// A held message is not attempted until released (it still expires).
    pub held: bool,
    /// One status per envelope recipient, in the envelope's order.
    pub recipients: Vec<RecipientStatus>,
    /// The last attempts and the delay warnings sent.
    pub history: MessageHistory,
}

impl MessageMeta {
    /// The state of a message just stored: no attempt yet, every recipient pending.
    pub fn new(envelope: &Envelope, next_attempt: SystemTime) -> Self {
        Self {
            attempts: 0,
            next_attempt,
            held: false,
            recipients: envelope
                .recipients
                .iter()
                .cloned()
                .map(RecipientStatus::pending)
                .collect(),
            history: MessageHistory::default(),
        }
    }

    /// True when some recipient is still pending.
    pub fn has_pending(&self) -> bool {
        self.recipients.iter().any(RecipientStatus::is_pending)
    }
}

/// A message to store for the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Its id, chosen by the caller ([`QueueId::new`]).
    pub id: QueueId,
    /// The envelope and body.
    pub envelope: Envelope,
    /// Its initial state ([`MessageMeta::new`]).
    pub meta: MessageMeta,
}

impl NewMessage {
    /// A new message with a fresh id, due at `due`.
    pub fn new(envelope: Envelope, due: SystemTime) -> Self {
        let meta = MessageMeta::new(&envelope, due);
        Self {
            id: QueueId::new(),
            envelope,
            meta,
        }
    }
}

/// A stored message with its body and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its id.
    pub id: QueueId,
    /// The envelope as stored.
    pub envelope: Envelope,
    /// Its current state.
    pub meta: MessageMeta,
}

/// What becomes of a message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Every recipient is delivered or failed: remove the message.
    Remove,
    /// Some recipients are still pending: keep it with this state. `held` is not changed.
    Retry {
        /// When to attempt again.
        next_attempt: SystemTime,
        /// Failed scheduled attempts so far (see [`MessageMeta::attempts`]).
        attempts: u32,
        /// Every recipient's status (delivered ones are never attempted again).
        recipients: Vec<RecipientStatus>,
        /// The message's history with this attempt recorded.
        history: MessageHistory,
    },
}

/// The result of one attempt, committed atomically by [`Storage::commit_attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptCommit {
    /// Bounces to store (in this store) in the same commit.
    pub bounces: Vec<NewMessage>,
    /// What happens to the attempted message.
    pub disposition: Disposition,
}

/// A lease on a message for one attempt; only shared stores read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The node that attempts the message.
    pub owner: String,
    /// When the lease lapses if the node disappears.
    pub until: SystemTime,
}

/// What the admin view shows of one message (no body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageInfo {
    /// The message id.
    pub id: QueueId,
    /// The envelope sender, empty for `<>`.
    pub sender: String,
    /// Every recipient's status.
    pub recipients: Vec<RecipientStatus>,
    /// Failed scheduled attempts so far (see [`MessageMeta::attempts`]).
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt: SystemTime,
    /// When the message arrived.
    pub arrival: SystemTime,
    /// Whether it is held.
    pub held: bool,
    /// Message size in octets.
    pub size: u64,
}

impl MessageInfo {
    /// The summary of a stored message.
    pub fn of(id: QueueId, envelope: &Envelope, meta: &MessageMeta) -> Self {
        Self {
            id,
            sender: envelope.sender.as_str().to_owned(),
            recipients: meta.recipients.clone(),
            attempts: meta.attempts,
            next_attempt: meta.next_attempt,
            arrival: envelope.arrival,
            held: meta.held,
            size: envelope.message.len() as u64,
        }
    }

    /// The admin state of the message.
    pub fn state(&self) -> MessageState {
        MessageState::of(self.held, self.attempts)
    }

    /// Recipients still pending.
    pub fn pending(&self) -> impl Iterator<Item = &RecipientStatus> {
        self.recipients
            .iter()
            .filter(|r| r.state == RecipientState::Pending)
    }
}

/// A record that could not be decoded and was set aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRecord {
    /// Where it was (key or file name).
    pub key: String,
    /// Why it could not be read.
    pub reason: String,
}

/// A queue store. See the module docs for the durability contract every method follows.
///
/// The methods come in three groups, by who calls them:
///
/// - **Engine** (required): what the queue needs to take, attempt and administer messages:
///   [`write`](Storage::write), [`load_schedule`](Storage::load_schedule),
///   [`claim`](Storage::claim), [`commit_attempt`](Storage::commit_attempt),
///   [`remove`](Storage::remove), [`set_held`](Storage::set_held), [`get`](Storage::get).
/// - **Inspection** (required but for `quarantined`): read-only views the queue hands to
///   administrators ([`crate::Queue::list`] and its neighbours):
///   [`info`](Storage::info), [`list`](Storage::list),
///   [`count_by_state`](Storage::count_by_state), [`quarantined`](Storage::quarantined).
/// - **Health** (default: always well): [`health`](Storage::health), what the store can
///   tell of its state before a write fails (a full disk, a lost connection).
/// - **Destination controls** (optional; the defaults keep nothing and refuse to suspend):
///   [`suspensions`](Storage::suspensions), [`suspend`](Storage::suspend),
///   [`resume`](Storage::resume).
/// - **Shared stores only** (defaults fit a local store): [`is_shared`](Storage::is_shared),
///   [`write_lease`](Storage::write_lease), [`due_notice`](Storage::due_notice),
///   [`poll_due`](Storage::poll_due).
///
/// A local store implements the first two groups; a store several nodes share also overrides
/// the third and records leases in `claim`. Every store runs the behaviour suite
/// (`envoi_queue::behaviour_suite!`, feature `testkit`).
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    // ----- Engine: what the queue needs (required) -----

    /// Stores new messages. Durable when it returns `Ok`; all-or-nothing: on `Err` none of them
    /// is stored. Writing an id that is already stored, or one id twice, is
    /// [`StorageError::DuplicateId`], never a silent overwrite.
    async fn write(&self, messages: Vec<NewMessage>) -> Result<(), StorageError>;

    /// A sink for the content of a message still arriving, at most `limit` octets. What it
    /// stages is kept only once a [`Storage::write`] stores a message made with it; dropped
    /// before, it leaves nothing. Default: kept in memory ([`MemorySink`]), for stores that
    /// write whole messages.
    ///
    /// # Errors
    /// The store cannot take a body now.
    async fn open_body(&self, limit: usize) -> Result<Box<dyn BodySink>, StorageError> {
        Ok(Box::new(MemorySink::new(limit)))
    }

    /// Every stored message's schedule entry, ordered by `next_attempt` (ties by id), without
    /// reading bodies. A store only this queue changes gives each entry's
    /// [`domains`](ScheduleEntry::domains) here or through [`Storage::schedule_domains`]; a
    /// shared store need not.
    async fn load_schedule(&self) -> Result<Vec<ScheduleEntry>, StorageError>;

    /// The schedule entries after `after` (from the first when `None`) in due order, at most
    /// `limit` of them (0: no limit), without reading bodies: how the queue loads the schedule
    /// at start-up, the first page before it takes mail and the rest in the background. Each
    /// page may come from its own snapshot of the store; the queue copes with entries that
    /// changed between pages. Default: [`Storage::load_schedule`] whole, cut to the page (a
    /// store that can read a range of its due order overrides it, or a large queue is read
    /// whole for every page).
    async fn load_schedule_page(
        &self,
        after: Option<ScheduleCursor>,
        limit: usize,
    ) -> Result<SchedulePage, StorageError> {
        let entries = self.load_schedule().await?;
        Ok(SchedulePage::of_sorted(entries, after, limit))
    }

    /// The pending recipients per domain of those of `ids` that are stored, for the schedule
    /// entries a page gave without their [`domains`](ScheduleEntry::domains): the queue asks
    /// in the background, after the page is in. A store only this queue changes should answer
    /// (the queue's per-domain counts wait for every entry's); default: none, and the admin
    /// summary then counts domains by a bounded scan instead.
    async fn schedule_domains(
        &self,
        _ids: Vec<QueueId>,
    ) -> Result<Vec<(QueueId, RecipientDomains)>, StorageError> {
        Ok(Vec::new())
    }

    /// Takes a message for an attempt and returns it with its body.
    ///
    /// `Ok(None)` when the message is gone or (shared stores) another node holds a live lease
    /// on it. Local stores ignore the lease; shared stores record it atomically.
    async fn claim(
        &self,
        id: QueueId,
        lease: &Lease,
    ) -> Result<Option<StoredMessage>, StorageError>;

    /// Records an attempt's outcome in one durable commit: the bounces are stored and the
    /// message is removed or rescheduled together, so a crash leaves either the old state or
    /// the new one. Releases any lease. `NotFound` when the message was deleted meanwhile (the
    /// bounces are then still stored).
    async fn commit_attempt(&self, id: QueueId, commit: AttemptCommit) -> Result<(), StorageError>;

    /// Removes a message (admin delete). Idempotent: `Ok(false)` when it was not stored.
    async fn remove(&self, id: QueueId) -> Result<bool, StorageError>;

    /// Sets or clears the held flag durably. `NotFound` when absent.
    async fn set_held(&self, id: QueueId, held: bool) -> Result<(), StorageError>;

    /// Reads one message with its body, without claiming it. `Ok(None)` when absent.
    async fn get(&self, id: QueueId) -> Result<Option<StoredMessage>, StorageError>;

    // ----- Inspection: what administrators read through the queue -----

    /// The admin summary of one message (no body read when the store can avoid it).
    async fn info(&self, id: QueueId) -> Result<Option<MessageInfo>, StorageError>;

    /// Admin listing: messages matching `query`, in id (arrival) order, starting after
    /// `query.after`, at most `query.limit`.
    async fn list(&self, query: &ListQuery) -> Result<Vec<MessageInfo>, StorageError>;

    /// How many messages are in each admin state.
    async fn count_by_state(&self) -> Result<StateCounts, StorageError>;

    /// Records set aside because they could not be decoded. Empty for stores that cannot have any.
    async fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, StorageError> {
        Ok(Vec::new())
    }

    // ----- Health: what the queue asks before taking mail -----

    /// Whether the store can take new mail now, as far as it can tell without writing: a
    /// spool whose filesystem is nearly full says [`StoreHealth::Full`], a store that lost its
    /// database says [`StoreHealth::Failing`]. Called for every `MAIL` (through
    /// [`crate::Queue::accepting`]), so it must be cheap and must not block for long: a
    /// syscall or a cached flag, never a round trip. A store that cannot tell keeps the
    /// default, [`StoreHealth::Ok`]; its write errors still refuse mail for a while (see
    /// [`crate::Acceptance`]).
    fn health(&self) -> StoreHealth {
        StoreHealth::Ok
    }

    // ----- Destination controls (optional: a store without them refuses to suspend) -----

    /// Every stored suspension (ended ones included; the queue ignores those).
    async fn suspensions(&self) -> Result<Vec<Suspension>, StorageError> {
        Ok(Vec::new())
    }

    /// Stores `suspension` durably, replacing one of the same destination.
    async fn suspend(&self, suspension: Suspension) -> Result<(), StorageError> {
        let _ = suspension;
        Err(StorageError::Unsupported("suspending destinations".into()))
    }

    /// Removes the suspension of `destination` durably; false when there was none.
    async fn resume(&self, destination: &str) -> Result<bool, StorageError> {
        let _ = destination;
        Err(StorageError::Unsupported("suspending destinations".into()))
    }

    // ----- Shared stores only (the defaults are a local store's answers) -----

    /// True for a store several nodes share (the queue then polls it with
    /// [`Storage::poll_due`]).
    fn is_shared(&self) -> bool {
        false
    }

    /// Shared stores that lease each message to the node that writes it: how long that lease
    /// lasts from the moment [`Storage::write`] is called. The store takes the lease in the
    /// write's own commit, with the fencing counter a claim would give, so the queue may run a
    /// message's first attempt on the writing node without [`Storage::claim`] while the whole
    /// attempt fits in the lease; a commit under that lease must be refused once another node
    /// has taken the message (as after a claim). `None` (the default): a shared store's every
    /// attempt claims first. Local stores ignore it: nobody else can take their messages.
    fn write_lease(&self) -> Option<std::time::Duration> {
        None
    }

    /// Shared stores: waits for another node's notice that work is due at the returned time
    /// (a retry it rescheduled, a message it released), so that an idle node polls then
    /// rather than at the end of its back-off. A store sends such notices debounced, at most
    /// one per interval, never one per message or per commit. The default never returns.
    async fn due_notice(&self) -> SystemTime {
        std::future::pending().await
    }

    /// Shared stores: entries due by `now` that this node has not seen (enqueued elsewhere, or
    /// whose lease lapsed). Local stores return nothing: the queue already knows every entry.
    async fn poll_due(
        &self,
        _now: SystemTime,
        _limit: usize,
    ) -> Result<Vec<ScheduleEntry>, StorageError> {
        Ok(Vec::new())
    }

    /// Shared stores: records that this node backed `backoff.destination` off, so that the
    /// other nodes hold back too; an existing back-off of that destination is replaced when
    /// this one ends later. Local stores keep nothing (the default).
    async fn share_backoff(&self, backoff: SharedBackoff) -> Result<(), StorageError> {
        let _ = backoff;
        Ok(())
    }

    /// Shared stores: ends the shared back-off of `destination` (it was reached, or an
    /// administrator retried it), or of every destination (`None`: a flush).
    async fn clear_backoff(&self, destination: Option<&str>) -> Result<(), StorageError> {
        let _ = destination;
        Ok(())
    }

    /// Shared stores: the shared back-offs still running at `now`.
    async fn shared_backoffs(&self, now: SystemTime) -> Result<Vec<SharedBackoff>, StorageError> {
        let _ = now;
        Ok(Vec::new())
    }
}
