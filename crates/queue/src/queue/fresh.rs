//! Messages just stored, kept for their first attempt.
//!
//! A new message is normally attempted a moment after it was stored, and reading it back
//! from the store then costs a read transaction and a copy of its body for data the queue
//! held a moment earlier (measured: bench/relay/README.md, "Profile"). So the queue keeps
//! what it stored, within a byte budget, and the first attempt takes it from here.
//!
//! Only for a store that no other node writes ([`crate::Storage::is_shared`] false): there
//! the stored state can change only through this queue, and every such change (hold, delete,
//! bounce) forgets the entry first. A shared store must be claimed under a lease, so nothing
//! is kept for it.

use std::collections::HashMap;

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

/// Stored messages not yet attempted, by id.
#[derive(Debug, Default)]
pub(super) struct Fresh {
    messages: HashMap<QueueId, StoredMessage>,
    bytes: usize,
}

impl Fresh {
    /// Keeps `message`, as it was just stored, unless the budget is spent.
    pub fn keep(&mut self, message: StoredMessage) {
        let size = message.envelope.message.resident_len();
        if self.bytes + size > BUDGET || self.messages.contains_key(&message.id) {
            return;
        }
        self.bytes += size;
        self.messages.insert(message.id, message);
    }

    /// Takes the kept copy of `id`, if any: it is handed out once.
    pub fn take(&mut self, id: QueueId) -> Option<StoredMessage> {
        let message = self.messages.remove(&id)?;
        self.bytes -= message.envelope.message.resident_len();
        Some(message)
    }

    /// Forgets `id` (its stored state is about to change).
    pub fn forget(&mut self, id: QueueId) {
        let _ = self.take(id);
    }

    /// How many messages are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.messages.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

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
        fresh.keep(as_stored(&new));
        let taken = fresh.take(new.id).map(|m| (m.id, m.envelope, m.meta));
        assert_eq!(
            taken,
            Some((new.id, new.envelope.clone(), new.meta.clone()))
        );
        assert!(fresh.take(new.id).is_none());
    }

    #[test]
    fn keeps_nothing_beyond_the_budget_and_frees_what_is_taken() {
        let mut fresh = Fresh::default();
        let big = message(BUDGET - 5);
        let small = message(10);
        fresh.keep(as_stored(&big));
        fresh.keep(as_stored(&small));
        assert_eq!(fresh.len(), 1, "the second would exceed the budget");
        fresh.forget(big.id);
        fresh.keep(as_stored(&small));
        assert!(fresh.take(small.id).is_some());
    }
}
