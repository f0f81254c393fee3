//! Attempt outcomes the store has not taken yet.
//!
//! The relay has acted on each of them (a recipient may have been delivered), so each is kept
//! by its attempt and committing it is retried until the store takes it. While any is waiting
//! the queue starts no new attempt and refuses new mail ([`Acceptance`]).

use std::collections::HashMap;

use envoi_types::QueueId;

use crate::health::Acceptance;
use crate::storage::StorageError;

/// The messages whose outcome is waiting, with the last error of each.
#[derive(Debug, Default)]
pub(super) struct Uncommitted {
    waiting: HashMap<QueueId, StorageError>,
}

impl Uncommitted {
    /// Records that `id`'s outcome could not be stored; true when it was not waiting before.
    pub fn failed(&mut self, id: QueueId, error: StorageError) -> bool {
        self.waiting.insert(id, error).is_none()
    }

    /// Forgets `id` (stored, or given up); true when it was the last one waiting.
    pub fn settled(&mut self, id: QueueId) -> bool {
        self.waiting.remove(&id).is_some() && self.waiting.is_empty()
    }

    /// How many outcomes wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True when delivery must pause: some outcome waits.
    pub fn is_paused(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Whether new mail is welcome: storage full if any waiting outcome failed for lack of
    /// space, else failing, else accepting.
    pub fn acceptance(&self) -> Acceptance {
        let worst = self
            .waiting
            .values()
            .find(|e| matches!(e, StorageError::Full(_)))
            .or_else(|| self.waiting.values().next());
        match worst {
            Some(error) => Acceptance::from_error(error, self.waiting.len()),
            None => Acceptance::Accepting,
        }
    }
}
