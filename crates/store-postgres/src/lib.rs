//! envoi's shared queue store on PostgreSQL: several nodes, one queue.
//!
//! [`PgStore`] implements [`envoi_queue::Storage`] with leases, so that nodes sharing one
//! database never attempt a message at once, and a dead node's messages go on elsewhere.
//!
//! # Tables
//! - `envoi_message`: one small row per message (schedule, attempts, hold, recipient states,
//!   lease): the only table retries, holds and leases update.
//! - `envoi_body`: the envelope and body, written once and deleted with its message.
//! - `envoi_quarantine`: records that could not be decoded, with their bytes.
//! - `envoi_node`: each node's heartbeat.
//! - `envoi_count`: message counts per admin state, kept by triggers (the admin summary).
//!   Listings filtered by state read partial indexes of the held and the deferred rows.
//! - `envoi_schema`: the schema version ([`migrate`]).
//!
//! # Leases and fencing
//! A message is leased to the node that stored it, with fencing counter 0, in the write's own
//! commit: that node's queue runs the first attempt without a claim
//! ([`envoi_queue::Storage::write_lease`]). A claim takes the lease when it is free,
//! ours, lapsed, or held by a node whose heartbeat is older than
//! [`PgOptions::node_timeout`], and bumps the row's fencing counter. An attempt's outcome is
//! written only while the row still carries this node's lease with the counter its claim
//! read: a node that lost its lease cannot overwrite the newer state.
//!
//! # Layout
//! - [`options`]: the settings, [`PgOptions`].
//! - [`store`]: the store, [`PgStore`]: its pool and runtime.
//! - [`storage`]: the [`envoi_queue::Storage`] implementation; `claims` (leases for attempts,
//!   batch claims of due work) and `listing` (admin listings and counts) hold its larger parts.
//! - [`stream`]: the streaming enqueue: bodies buffered behind a bound.
//! - `writer`: group commit of new messages.
//! - `completer`: batched commits of attempts' outcomes.
//! - `insert`: new messages as column arrays, one insert per table.
//! - [`migrate`]: versioned schema migrations.
//! - `sql`: every statement.
//! - `rows`, `codec`: rows to the queue's types and back.
//! - `fences`: the leases this node holds, and forgetting those of messages gone elsewhere.
//! - `heartbeat`: this node's heartbeat.
//! - `notices`: debounced notices of due work between nodes (`NOTIFY`/`LISTEN`).
//! - `connect`: the pool's sessions (settings, TLS).
//! - [`error`]: [`PgError`] and its mapping to [`envoi_queue::StorageError`].

mod claims;
mod codec;
mod completer;
mod connect;
pub mod error;
mod fences;
mod heartbeat;
mod insert;
mod listing;
pub mod migrate;
mod notices;
pub mod options;
#[cfg(test)]
mod plans;
mod rows;
mod sql;
pub mod storage;
pub mod store;
pub mod stream;
mod writer;

pub use error::PgError;
pub use options::PgOptions;
pub use store::PgStore;
