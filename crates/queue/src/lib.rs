//! envoi's queue engine.
//!
//! A [`Queue`] takes responsibility for envelopes: it stores them durably through a
//! [`Storage`], attempts them through a [`Relay`], retries transient failures on the schedule a
//! [`Backoff`] gives, and turns permanent failures into RFC 3464 bounces built by a
//! [`BounceFactory`].
//!
//! # Layout
//! - [`queue`]: the [`Queue`] itself: enqueue, scheduler, attempts, expiry, administration,
//!   inspection.
//! - [`storage`]: the storage contract ([`Storage`]) and the in-memory store.
//! - [`relay`]: the relay contract ([`Relay`]).
//! - [`backoff`]: retry schedules.
//! - [`settings`]: concurrency limits and the shutdown grace, as plain data.
//! - [`bounce`]: RFC 3464 bounces.
//! - [`policy`]: prequeue policies.
//! - [`clock`]: the time source shared with tests.
//! - [`events`]: delivery log lines and metrics.
//! - [`error`]: errors and their SMTP replies.
//! - `testkit` (feature `testkit`): a scripted relay and the behaviour suite every store runs.

pub mod backoff;
pub mod bounce;
pub mod clock;
pub mod error;
pub mod events;
pub mod policy;
pub mod queue;
pub mod relay;
pub mod settings;
pub mod storage;
// Test support: a failed unwrap there is a failed assertion.
#[cfg(any(test, feature = "testkit"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod testkit;

pub use backoff::{Backoff, Exponential, Schedule};
pub use bounce::{BounceFactory, DsnBounce, Failure};
pub use clock::Clock;
pub use error::{EnqueueError, QueueError};
pub use policy::PrequeuePolicy;
pub use queue::{Queue, QueueBuilder};
pub use relay::{Delivery, Outcome, Relay, RelayError};
pub use settings::QueueSettings;
pub use storage::{
    AttemptCommit, Disposition, Lease, ListQuery, MemoryStore, MessageInfo, MessageMeta,
    MessageState, NewMessage, QuarantinedRecord, ScheduleEntry, StateCounts, Storage, StorageError,
    StoredMessage,
};
