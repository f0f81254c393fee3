//! envoi's queue engine.
//!
//! A [`Queue`] takes responsibility for envelopes: it stores them durably through a
//! [`Storage`], attempts them through a [`Relay`], retries transient failures on the schedule a
//! [`Backoff`] gives, and turns permanent failures into RFC 3464 bounces built by a
//! [`BounceFactory`].
//!
//! # Getting started
//! Two runnable programs in the repository's `examples/` directory (package `envoi-examples`,
//! built and tested by CI) show the queue at work:
//!
//! - **`examples/smarthost.rs`**, a whole MTA in about 40 lines: an SMTP edge
//!   (`envoi-edge`) hands messages to a queue on the durable spool (`envoi-spool`), which
//!   delivers them through a smarthost (`envoi-relay`) with the seed's backoff written as a
//!   closure. Run it with `cargo run -p envoi-examples --example smarthost -- 127.0.0.1:2526`.
//!   Its heart:
//!
//!   ```ignore
//!   let queue = Queue::builder(Arc::new(spool), Arc::new(relay))
//!       .backoff(|_: &Envelope, n| (n <= 5).then(|| Duration::from_secs(12 * 5u64.pow(n))))
//!       .start()
//!       .await?;
//!   let server = Server::builder(config, Arc::new(queue.clone())).build();
//!   server.serve(listener, ListenMode::Plain, shutdown).await?;
//!   ```
//!
//! - **`examples/webhook.rs`**, a custom [`Relay`] that POSTs each message to an HTTP URL,
//!   plugged into a queue on the [`MemoryStore`]; `examples/tests/webhook.rs` runs it against a
//!   loopback listener. A relay only reports what happened; the queue retries, expires and
//!   bounces. The shape of it, with a relay that accepts everything:
//!
//! ```
//! use std::sync::Arc;
//! use envoi_queue::{Delivery, MemoryStore, Outcome, Queue, Relay, RelayError};
//! use envoi_types::{Address, Envelope, Reply, Sender};
//!
//! struct Accept;
//!
//! #[async_trait::async_trait]
//! impl Relay for Accept {
//!     async fn attempt(&self, _: &Envelope, _attempt: u32) -> Result<Delivery, RelayError> {
//!         let reply = Reply::with_default_code(250, "OK");
//!         Ok(Delivery::Whole(Outcome::new(reply, None)))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let queue = Queue::builder(Arc::new(MemoryStore::new()), Arc::new(Accept)).start().await?;
//! let to = vec![Address::parse("friend@example.net")?];
//! let message: &[u8] = b"Subject: hi\r\n\r\nhello\r\n";
//! let ids = queue.enqueue(Envelope::new(Sender::parse("me@example.org")?, to, message)).await?;
//! assert_eq!(ids.len(), 1); // stored durably (here: in memory) before enqueue returns
//! # queue.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! # When things fail
//! - A relay error or panic, and a panicking [`Backoff`] or [`BounceFactory`], are transient
//!   failures: the message is attempted again. No panic leaves a message in flight.
//! - A store that cannot commit an attempt's outcome does not lose it: the queue keeps it and
//!   commits it again until the store takes it, never calling the relay for that message
//!   meanwhile. Delivery pauses and [`Queue::accepting`] refuses new mail
//!   ([`Acceptance::StorageFull`] or [`Acceptance::StorageFailing`], with the reason) until
//!   then. A restart loses only such an outcome; what was in flight may then be sent again.
//! - `attempts` ([`MessageMeta::attempts`]) counts failed *scheduled* attempts: one forced by
//!   [`Queue::flush`] or [`Queue::retry`] that fails is not counted, so it never brings a
//!   bounce closer.
//! - [`Queue::delete`] during an attempt makes that attempt store nothing and bounce nothing;
//!   once the attempt is storing its outcome, the delete is refused as in flight.
//!
//! # Destinations
//! The scheduler is fair between *destinations* ([`Destination`]): the route or smarthost
//! the relay will use, or the recipient domain for MX delivery, as the relay names them
//! ([`Relay::destination`]).
//!
//! - Each message is scheduled under the destination of its first pending recipient. The
//!   queue learns it at enqueue; a message loaded at start (or brought in from a shared
//!   store) is *unsorted* until its first claim names it, and then moves to its lane before
//!   the relay is called. After a partial delivery the next claim sorts it again.
//! - A message with recipients at several destinations (not split by a prequeue policy) is
//!   delivered as before: the relay sends every group in one attempt, and each recipient
//!   gets its own outcome once. Only the scheduling (its turn and its slot) follows its first
//!   pending recipient. Splitting by domain at enqueue makes every message single-destination.
//! - Due messages wait in their destination's *lane*, in due order. A delivery slot (one of
//!   [`QueueSettings::max_deliveries`]) is taken only for a message whose destination can
//!   start now: it is due and the destination has fewer than
//!   [`QueueSettings::max_per_destination`] attempts in flight. A destination at its limit
//!   holds no slot, so a slow destination's backlog cannot keep the others waiting.
//! - Lanes are served round-robin, starting after the lane served last.
//! - Expiry comes first: a message past its lifetime is started whatever its destination's
//!   state (its attempt expires it without calling the relay).
//! - Connection limits (messages per connection, connections per second) are the relay's:
//!   only its pool knows whether a delivery reuses a connection or opens one. A delivery
//!   waiting there for a connection keeps its slot; at most `max_per_destination` of them
//!   per destination, so the other slots keep serving other destinations.
//! - No slow start: a destination gets its full `max_per_destination` from its first
//!   delivery. Postfix's slow start (begin at a few connections, grow per success, shrink
//!   per failure) guards against opening many connections to a host that then fails or
//!   tarpits them. Here a destination that cannot be connected to is backed off as a whole
//!   after one failed attempt, and a slow one holds only its own slots, so the damage slow
//!   start prevents is already bounded; adapting the limit would add state per destination
//!   and make the configured limit harder to predict. An operator lowers
//!   `max_in_flight` for a fragile destination instead.
//!
//! Invariants the tests check (`tests/destinations.rs` and the index's unit tests): a fast
//! destination's message is delivered while a slow one's backlog fills its own limit; two
//! backlogged destinations alternate; a lane keeps its due order; no message is attempted
//! twice at once or delivered twice.
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
//! - [`destination`]: the unit of fair scheduling, limits and back-off.
//! - [`clock`]: the time source shared with tests.
//! - [`events`]: delivery log lines and metrics.
//! - [`health`]: whether the queue takes new mail ([`Acceptance`]).
//! - [`error`]: errors and their SMTP replies.
//! - `testkit` (feature `testkit`): a scripted relay and the behaviour suite every store runs.

pub mod backoff;
pub mod bounce;
pub mod clock;
pub mod destination;
pub mod error;
pub mod events;
pub mod health;
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
pub use destination::{Destination, DestinationStatus};
pub use error::{EnqueueError, QueueError};
pub use health::Acceptance;
pub use policy::PrequeuePolicy;
pub use queue::{DestinationCounters, DestinationCounts, Queue, QueueBuilder};
pub use relay::{Delivery, Outcome, Relay, RelayError, ReplyOrigin, Timings};
pub use settings::{DestinationLimits, QueueSettings};
pub use storage::{
    AttemptCommit, BodySink, Disposition, DomainTally, Lease, ListQuery, MemorySink, MemoryStore,
    MessageInfo, MessageMeta, MessageState, NewMessage, QuarantinedRecord, RecipientDomains,
    ScheduleCursor, ScheduleEntry, SchedulePage, SharedBackoff, StagedBody, StateCounts, Storage,
    StorageError, StoreHealth, StoredMessage, Suspension,
};
