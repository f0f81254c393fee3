//! envoi's queue engine.
//!
//! A [`Queue`] takes responsibility for envelopes: it stores them durably through a
//! [`Storage`], attempts them through a [`Relay`], retries transient failures on the schedule a
//! [`Backoff`] gives, and turns permanent failures into RFC 3464 bounces built by a
//! [`BounceFactory`].
//!
//! # Layout
//! - [`storage`]: the storage contract ([`Storage`]) and the in-memory store.
//! - [`relay`]: the relay contract ([`Relay`]).
//! - [`error`]: errors and their SMTP replies.

pub mod error;
pub mod relay;
pub mod storage;

pub use error::{EnqueueError, QueueError};
pub use relay::{Delivery, Outcome, Relay, RelayError};
pub use storage::{
    AttemptCommit, Disposition, Lease, ListQuery, MemoryStore, MessageInfo, MessageMeta,
    MessageState, NewMessage, QuarantinedRecord, ScheduleEntry, StateCounts, Storage,
    StorageError, StoredMessage,
};
