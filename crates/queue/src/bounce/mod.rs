//! Reports to the sender: that some recipients failed for good (bounces), are delayed
//! (warnings), or were delivered or relayed where the sender asked to know (RFC 3461).
//!
//! # Layout
//! - [`dsn`]: [`DsnBounce`], RFC 3464 delivery status notifications.

pub mod dsn;
mod fields;

use std::time::SystemTime;

use envoi_types::{Address, Envelope, QueueId, Reply};

use crate::relay::ReplyOrigin;

pub use dsn::DsnBounce;

/// What a report says became of a recipient: RFC 3464 §2.3.3's `Action` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Failed for good.
    Failed,
    /// Not delivered yet, still being retried (a delay warning).
    Delayed,
    /// Delivered to its mailbox (an LMTP delivery).
    Delivered,
    /// Handed to a next hop that will not report on it (it does not offer DSN).
    Relayed,
}

impl Action {
    /// The field's value.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Delayed => "delayed",
            Self::Delivered => "delivered",
            Self::Relayed => "relayed",
        }
    }
}

/// One recipient a report is about, with the reply that decided it: a recipient that failed
/// permanently, or (by its [`Failure::action`]) one delayed, delivered or relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The recipient.
    pub recipient: Address,
    /// What became of it. Every recipient of one report has the same action.
    pub action: Action,
    /// The final reply (for retries given up, with "(Too many retries)" appended); for a
    /// delay, the last one; for a success, the next hop's acceptance.
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
    /// Every recipient the report is about (all with one [`Action`]), in the message's
    /// recipient order: those that failed in this attempt, or those delayed, delivered or
    /// relayed.
    pub failures: &'a [Failure],
    /// The time of the failure (the bounce's Date).
    pub now: SystemTime,
    /// For a delay warning: when envoi gives up (the message's expiry).
    pub will_retry_until: Option<SystemTime>,
}

/// Builds the reports of one attempt. The queue calls it once per attempt and kind of
/// report that concerns some recipient whose `NOTIFY` asks for it (failures: by default;
/// delays: by default, once per threshold; success: only when asked), and never for a
/// message whose sender is the null sender.
pub trait BounceFactory: Send + Sync + 'static {
    /// The report: sender `<>`, one recipient (the original sender).
    fn bounce(&self, context: BounceContext<'_>) -> Envelope;
}
