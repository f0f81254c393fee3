//! The queue summary: how many messages, in which state, bound for which domains.

use serde::{Deserialize, Serialize};

use envoi_queue::StateCounts;

/// `GET /v1/summary`: counts by state and by destination domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Every queued message.
    pub total: u64,
    /// Messages per admin state (`active`, `deferred`, `held`).
    pub by_state: StateCounts,
    /// Domains of pending recipients (held messages' included), most messages first (ties by
    /// name).
    pub by_domain: Vec<DomainCount>,
    /// False when the domain counts cover only the first part of a very large queue: the
    /// queue keeps them as messages change, but for a shared store, or while its schedule
    /// loads, the server counts them by scanning at most a bounded number of messages.
    pub domains_complete: bool,
}

/// Queued mail for one destination domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainCount {
    /// The domain, lower case.
    pub domain: String,
    /// Messages with at least one pending recipient in this domain.
    pub messages: u64,
    /// Pending recipients in this domain, over all messages.
    pub recipients: u64,
}
