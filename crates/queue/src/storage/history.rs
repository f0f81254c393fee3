//! What a message has been through: its last attempts and the delay warnings sent.
//!
//! Kept with the message's mutable state ([`crate::MessageMeta::history`]) and rewritten with
//! it at every commit, so it costs no body rewrite; the attempt list is capped (the queue's
//! `history_limit`), so it never grows without bound.

use std::time::SystemTime;

use envoi_types::{Address, Reply};
use serde::{Deserialize, Serialize};

/// One recipient's answer in one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptReply {
    /// The recipient.
    pub recipient: Address,
    /// What it was answered (or what envoi made of a failure to reach a host).
    pub reply: Reply,
    /// The next hop that answered, or the one that could not be reached.
    pub remote_host: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// When the attempt ended.
    pub at: SystemTime,
    /// Every recipient attempted, with its reply.
    pub replies: Vec<AttemptReply>,
}

/// A message's history. [`MessageHistory::default`] is a message never attempted nor
/// warned about.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageHistory {
    /// The last attempts, oldest first, at most the configured number.
    pub attempts: Vec<AttemptRecord>,
    /// How many delay-warning thresholds have had their warning (or were passed while no
    /// recipient wanted one): the next warning is for the threshold at this index.
    pub delay_warnings_sent: u32,
}

impl MessageHistory {
    /// Appends `attempt`, keeping only the last `limit` attempts (none when `limit` is 0).
    pub fn record(&mut self, attempt: AttemptRecord, limit: usize) {
        self.attempts.push(attempt);
        let excess = self.attempts.len().saturating_sub(limit);
        self.attempts.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(secs: u64) -> AttemptRecord {
        AttemptRecord {
            at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            replies: Vec::new(),
        }
    }

    #[test]
    fn keeps_the_last_n_attempts() {
        let mut history = MessageHistory::default();
        for secs in 0..7 {
            history.record(attempt(secs), 3);
        }
        let kept: Vec<_> = history.attempts.iter().map(|a| a.at).collect();
        assert_eq!(kept, [attempt(4).at, attempt(5).at, attempt(6).at]);
        history.record(attempt(9), 0);
        assert!(history.attempts.is_empty());
    }
}
