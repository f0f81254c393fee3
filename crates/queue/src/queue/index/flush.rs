//! The flush, in chunks: at a million queued messages, forcing every one under the queue's
//! mutex would keep enqueues and attempts waiting for hundreds of milliseconds. A flush walks
//! the expiry set (every idle message, in a stable order: forcing changes a message's lane
//! key, never its expiry) a chunk at a time, and the queue releases the mutex between chunks.
//!
//! What a flush promises holds for every message idle when it starts and still idle when its
//! chunk comes: it is due at the flush's time, its attempt is a forced one (not counted), a
//! held one is skipped; every back-off is lifted at the start. A message that an attempt or an
//! administrator took meanwhile is left to them, as one in flight at the start is.

use std::collections::HashSet;
use std::ops::Bound;
use std::time::SystemTime;

use envoi_types::QueueId;

use super::Index;
use crate::clock::millis;
use crate::destination::Destination;

/// A flush under way: its time, the destinations whose back-off it lifted, how far it got.
#[derive(Debug)]
pub(crate) struct FlushRun {
    now: u64,
    lifted: HashSet<Destination>,
    /// The last expiry-set entry done.
    after: Option<(u64, QueueId)>,
    /// Messages it found waiting (for their time, or their destination's back-off).
    waiting: usize,
}

impl FlushRun {
    /// How many messages the flush found waiting so far.
    pub fn waiting(&self) -> usize {
        self.waiting
    }
}

impl Index {
    /// Starts a flush at `now`: lifts every destination's back-off. The messages are made
    /// due by [`Index::flush_chunk`].
    pub fn begin_flush(&mut self, now: SystemTime) -> FlushRun {
        let lifted = self.lanes.lift_backoff(None).into_iter().collect();
        self.note_flush(millis(now));
        FlushRun {
            now: millis(now),
            lifted,
            after: None,
            waiting: 0,
        }
    }

    /// Makes the next `chunk` idle, unheld messages of `run` due at its time (at least one
    /// message is looked at); false once every message was looked at.
    pub fn flush_chunk(&mut self, run: &mut FlushRun, chunk: usize) -> bool {
        let start = run.after.map_or(Bound::Unbounded, Bound::Excluded);
        let batch: Vec<(u64, QueueId)> = self
            .expiries
            .range((start, Bound::Unbounded))
            .take(chunk.max(1))
            .copied()
            .collect();
        let Some(&last) = batch.last() else {
            return false;
        };
        run.after = Some(last);
        for (_, id) in batch {
            let forced = self.force(id, run.now);
            let lifted = || {
                self.entries
                    .get(&id)
                    .is_some_and(|e| !e.in_flight && !e.held && run.lifted.contains(&e.dest))
            };
            if forced || lifted() {
                run.waiting += 1;
            }
        }
        true
    }

    /// Makes every idle, unheld message due at `now` and lifts every destination's back-off,
    /// in one go; returns how many messages were waiting (for their time or their
    /// destination).
    #[cfg(test)]
    pub fn flush(&mut self, now: SystemTime) -> usize {
        let mut run = self.begin_flush(now);
        while self.flush_chunk(&mut run, usize::MAX) {}
        run.waiting()
    }
}
