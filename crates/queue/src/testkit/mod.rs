//! Test support for the queue and for every store: a scripted relay and the behaviour suite.
//!
//! # Layout
//! - [`relay`]: [`ScriptedRelay`], answers chosen replies per recipient and attempt.
//! - [`faulty`]: [`FaultyStore`], the memory store with faults switched on and off.
//! - [`reports`]: suite rows about reports to the sender (DSN parameters, delay warnings,
//!   success reports, the attempt history).
//! - [`store`]: suite rows about the store alone (duplicate ids).
//! - [`destinations`]: suite rows about destinations (suspensions kept, back-off uncounted).
//! - [`streaming`]: the suite row about the streaming enqueue.
//! - [`paged`]: [`PagedStore`], any store with its schedule read in pages the test lets through.
//! - [`loading`]: suite rows about the schedule read in the background after start-up.
//! - [`domains`]: the suite row about the per-domain counts the queue keeps.
//! - [`suite`]: the behaviour suite (docs/architecture.md, section 5), generic over the store; run it with
//!   [`crate::behaviour_suite!`].

pub mod destinations;
pub mod domains;
pub mod faulty;
pub mod loading;
pub mod paged;
pub mod relay;
pub mod reports;
pub mod store;
pub mod streaming;
pub mod suite;

pub use faulty::FaultyStore;
pub use paged::PagedStore;
pub use relay::{Call, ScriptedRelay};
