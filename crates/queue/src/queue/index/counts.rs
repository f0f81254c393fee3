//! How many entries are in each admin state, kept as entries come, go and change (held flag,
//! attempt count), so that an administrator's count reads three numbers rather than the
//! whole queue.

use super::{Entry, Index};
use crate::storage::{MessageState, StateCounts};

impl Index {
    /// Entries per admin state (in flight ones in the state they were stored in).
    pub fn state_counts(&self) -> StateCounts {
        self.counts
    }

    /// Counts `entry` in its state, under its domains and, unless held, under its
    /// destination.
    pub(super) fn count(&mut self, entry: &Entry) {
        self.counts.add(state(entry));
        self.tally(entry);
        self.tally_domains(entry);
    }

    /// Stops counting `entry` in its state, under its domains and under its destination.
    pub(super) fn uncount(&mut self, entry: &Entry) {
        self.untally(entry);
        self.untally_domains(entry);
        let counter = match state(entry) {
            MessageState::Active => &mut self.counts.active,
            MessageState::Deferred => &mut self.counts.deferred,
            MessageState::Held => &mut self.counts.held,
        };
        *counter = counter.saturating_sub(1);
    }

    /// The counts recomputed from every entry: what the kept counts must equal.
    #[cfg(test)]
    pub fn recount(&self) -> StateCounts {
        let mut counts = StateCounts::default();
        for entry in self.entries.values() {
            counts.add(state(entry));
        }
        counts
    }
}

fn state(entry: &Entry) -> MessageState {
    MessageState::of(entry.held, entry.attempts)
}
