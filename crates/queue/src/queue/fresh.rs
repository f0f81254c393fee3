//! Messages just stored, kept for their first attempt.
//!
//! A new message is normally attempted a moment after it was stored, and reading it back
//! from the store then costs a read transaction and a copy of its body for data the queue
//! held a moment earlier (measured: bench/relay/README.md, "Profile"). So the queue keeps
//! what it stored, within a byte budget, and the first attempt takes it from here.
//!
//! For a store that no other node writes ([`crate::Storage::is_shared`] false), the stored
//! state can change only through this queue, and every such change (hold, delete, bounce)
//! forgets the entry first. A shared store must be attempted under a lease: a copy is kept only
//! when the store leases new messages to the writing node ([`crate::Storage::write_lease`]),
//! with the time that lease lapses, and handed out only for an attempt whose own lease ends
//! before it (so no other node can take the message meanwhile). Another node's hold or delete
//! between the write and the first attempt (normally milliseconds) then acts as it does on a
//! message in flight: the attempt runs, a delete makes its outcome `NotFound`, a hold stays.

use std::collections::HashMap;
use std::time::SystemTime;

use envoi_types::QueueId;

use crate::storage::{NewMessage, StoredMessage};

/// The most body bytes kept in memory at once (a spooled body counts only its head: the rest
/// is in the store's file): enough for a few hundred typical messages waiting for a
/// delivery slot, small next to the edge's own body budget.
pub(super) const BUDGET: usize = 32 * 1024 * 1024;

/// What `message` will read back as once stored.
pub(super) fn as_stored(message: &NewMessage) -> StoredMessage {
    StoredMessage {
        id: message.id,
        envelope: message.envelope.clone(),
        meta: message.meta.clone(),
    }
}

/// A kept message and when the writing node's lease on it lapses (`None`: never, a local
/// store).
#[derive(Debug)]
struct Kept {
    message: StoredMessage,
    leased_until: Option<SystemTime>,
}

/// Stored messages not yet attempted, by id.
#[derive(Debug, Default)]
pub(super) struct Fresh {
    messages: HashMap<QueueId, Kept>,
    bytes: usize,
}

impl Fresh {
    /// Keeps `message`, as it was just stored (leased to this node until `leased_until`, for a
    /// shared store), unless the budget is spent.
    pub fn keep(&mut self, message: StoredMessage, leased_until: Option<SystemTime>) {
        let size = message.envelope.message.resident_len();
        if self.bytes + size > BUDGET || self.messages.contains_key(&message.id) {
            return;
        }
        self.bytes += size;
        let kept = Kept {
            message,
            leased_until,
        };
        self.messages.insert(kept.message.id, kept);
    }

    /// Takes the kept copy of `id`, if any, for an attempt whose lease ends at `attempt_until`:
    /// it is handed out once, and only while the write's lease outlasts the attempt's (else it
    /// is dropped and the attempt claims).
    pub fn take(&mut self, id: QueueId, attempt_until: SystemTime) -> Option<StoredMessage> {
        let kept = self.messages.remove(&id)?;
        self.bytes -= kept.message.envelope.message.resident_len();
        match kept.leased_until {
            Some(until) if until < attempt_until => None,
            _ => Some(kept.message),
        }
    }

    /// Forgets `id` (its stored state is about to change).
    pub fn forget(&mut self, id: QueueId) {
        if let Some(kept) = self.messages.remove(&id) {
            self.bytes -= kept.message.envelope.message.resident_len();
        }
    }

    /// How many messages are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.messages.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use envoi_types::{Address, Envelope, Sender};

    use super::*;

    fn message(body_len: usize) -> NewMessage {
        let envelope = Envelope::new(
            Sender::Null,
            vec![Address::parse("a@example.com").unwrap_or_else(|e| panic!("{e}"))],
            vec![b'x'; body_len],
        );
        NewMessage::new(envelope, SystemTime::now())
    }

    #[test]
    fn hands_out_a_kept_message_once() {
        let mut fresh = Fresh::default();
        let new = message(10);
        fresh.keep(as_stored(&new), None);
        let now = SystemTime::now();
        let taken = fresh.take(new.id, now).map(|m| (m.id, m.envelope, m.meta));
        assert_eq!(
            taken,
            Some((new.id, new.envelope.clone(), new.meta.clone()))
        );
        assert!(fresh.take(new.id, now).is_none());
    }

    #[test]
    fn hands_out_a_leased_message_only_for_an_attempt_within_the_lease() {
        let mut fresh = Fresh::default();
        let now = SystemTime::now();
        let lease_end = now + Duration::from_secs(60);
        let (inside, outside) = (message(10), message(10));
        fresh.keep(as_stored(&inside), Some(lease_end));
        fresh.keep(as_stored(&outside), Some(lease_end));
        assert!(fresh.take(inside.id, lease_end).is_some());
        let late = lease_end + Duration::from_millis(1);
        assert!(
            fresh.take(outside.id, late).is_none(),
            "would outlast the lease"
        );
        assert_eq!(fresh.len(), 0, "a copy past its lease is dropped, not kept");
        assert_eq!(fresh.bytes, 0);
    }

    #[test]
    fn keeps_nothing_beyond_the_budget_and_frees_what_is_taken() {
        let mut fresh = Fresh::default();
        let big = message(BUDGET - 5);
        let small = message(10);
        fresh.keep(as_stored(&big), None);
        fresh.keep(as_stored(&small), None);
        assert_eq!(fresh.len(), 1, "the second would exceed the budget");
        fresh.forget(big.id);
        fresh.keep(as_stored(&small), None);
        assert!(fresh.take(small.id, SystemTime::now()).is_some());
    }
}
