//! Bounces: telling the sender that some recipients failed for good.
//!
//! # Layout
//! - [`dsn`]: [`DsnBounce`], RFC 3464 delivery status notifications.

pub mod dsn;

use std::time::SystemTime;

use envoi_types::{Address, Envelope, QueueId, Reply};

use crate::relay::ReplyOrigin;

pub use dsn::DsnBounce;

/// One recipient that failed permanently, with the reply that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The recipient.
    pub recipient: Address,
    /// The final reply (for retries given up, with "(Too many retries)" appended).
    pub reply: Reply,
    /// The next hop the reply is about (`name[address]:port` as the relay reports it), when a
    /// host was involved.
    pub remote_host: Option<String>,
    /// Who wrote `reply`: only a remote host's own reply is reported as an `smtp` diagnostic.
    pub origin: ReplyOrigin,
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
    /// Every recipient that failed in this attempt, in the message's recipient order.
    pub failures: &'a [Failure],
    /// The time of the failure (the bounce's Date).
    pub now: SystemTime,
}

/// Builds the bounce envelope for the failures of one attempt. The queue calls it once per
/// attempt that failed some recipients for good, and never for a message whose sender is the
/// null sender.
pub trait BounceFactory: Send + Sync + 'static {
    /// The bounce: sender `<>`, one recipient (the original sender).
    fn bounce(&self, context: BounceContext<'_>) -> Envelope;
}
