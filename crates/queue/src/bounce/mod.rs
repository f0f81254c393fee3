//! Bounces: telling the sender that some recipients failed for good.
//!
//! # Layout
//! - [`dsn`]: [`DsnBounce`], RFC 3464 delivery status notifications.

pub mod dsn;

use std::time::SystemTime;

use envoi_types::{Address, Envelope, QueueId, Reply};

pub use dsn::DsnBounce;

/// One recipient that failed permanently, with the reply that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The recipient.
    pub recipient: Address,
    /// The final reply (for retries given up, with "(Too many retries)" appended).
    pub reply: Reply,
    /// The host that gave the reply, when known.
    pub remote_host: Option<String>,
}

/// What the queue needs to build a bounce.
#[derive(Debug, Clone, Copy)]
pub struct BounceContext<'a> {
    /// The message that failed.
    pub original: &'a Envelope,
    /// Its queue id.
    pub original_id: QueueId,
    /// The id the bounce will be stored under.
    pub bounce_id: QueueId,
    /// The failed recipients that share one reply.
    pub failures: &'a [Failure],
    /// The time of the failure (the bounce's Date).
    pub now: SystemTime,
}

/// Builds the bounce envelope for a group of failures. The queue calls it once per distinct
/// failure reply and never for a message whose sender is the null sender.
pub trait BounceFactory: Send + Sync + 'static {
    /// The bounce: sender `<>`, one recipient (the original sender).
    fn bounce(&self, context: BounceContext<'_>) -> Envelope;
}
