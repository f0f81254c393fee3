//! Admin listing filters, evaluated the same way by every store.

use std::time::{Duration, SystemTime};

use envoi_types::QueueId;
use serde::{Deserialize, Serialize};

use super::MessageInfo;

/// The admin state of a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageState {
    /// Not attempted yet, or attempted without a failure so far.
    Active,
    /// Failed transiently at least once; waiting for its next attempt.
    Deferred,
    /// Held by an administrator.
    Held,
}

impl MessageState {
    /// The state of a message with this held flag and attempt count.
    pub fn of(held: bool, attempts: u32) -> Self {
        match (held, attempts) {
            (true, _) => Self::Held,
            (false, 0) => Self::Active,
            (false, _) => Self::Deferred,
        }
    }
}

/// Message counts per admin state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// Messages not yet failed.
    pub active: u64,
    /// Messages waiting for a retry.
    pub deferred: u64,
    /// Held messages.
    pub held: u64,
}

impl StateCounts {
    /// Counts one more message in `state`.
    pub fn add(&mut self, state: MessageState) {
        match state {
            MessageState::Active => self.active += 1,
            MessageState::Deferred => self.deferred += 1,
            MessageState::Held => self.held += 1,
        }
    }

    /// All messages.
    pub fn total(&self) -> u64 {
        self.active + self.deferred + self.held
    }
}

/// A filter and a page for the admin listing. Empty filters match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListQuery {
    /// Only messages in this state.
    pub state: Option<MessageState>,
    /// Only messages whose sender contains this text (case-insensitive).
    pub sender: Option<String>,
    /// Only messages with a recipient containing this text (case-insensitive).
    pub recipient: Option<String>,
    /// Only messages with a recipient in this domain (case-insensitive, exact).
    pub domain: Option<String>,
    /// Only messages at least this old at `now`.
    pub min_age: Option<Duration>,
    /// The time ages are measured at.
    pub now: Option<SystemTime>,
    /// Start after this id (the last id of the previous page).
    pub after: Option<QueueId>,
    /// At most this many results; 0 means the default page size.
    pub limit: usize,
}

/// Page size when [`ListQuery::limit`] is 0.
pub const DEFAULT_PAGE: usize = 100;

impl ListQuery {
    /// The effective page size.
    pub fn page_size(&self) -> usize {
        if self.limit == 0 {
            DEFAULT_PAGE
        } else {
            self.limit
        }
    }

    /// True when `info` passes every filter (the `after` cursor is the caller's to apply).
    pub fn matches(&self, info: &MessageInfo) -> bool {
        if self.state.is_some_and(|state| info.state() != state) {
            return false;
        }
        if let Some(sender) = &self.sender {
            if !contains_ignore_case(&info.sender, sender) {
                return false;
            }
        }
        if let Some(recipient) = &self.recipient {
            let found = info
                .recipients
                .iter()
                .any(|r| contains_ignore_case(r.recipient.as_str(), recipient));
            if !found {
                return false;
            }
        }
        if let Some(domain) = &self.domain {
            let found = info
                .recipients
                .iter()
                .any(|r| r.recipient.domain().eq_ignore_ascii_case(domain));
            if !found {
                return false;
            }
        }
        if let Some(min_age) = self.min_age {
            let now = self.now.unwrap_or_else(SystemTime::now);
            let age = now.duration_since(info.arrival).unwrap_or_default();
            if age < min_age {
                return false;
            }
        }
        true
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}
