//! What administrators change in the index: retry, hold, delete marks; and the
//! per-destination view.

use std::collections::HashMap;
use std::time::SystemTime;

use envoi_types::QueueId;

use super::Index;
use crate::clock::millis;
use crate::destination::Destination;
use crate::queue::lanes::LaneHealth;

/// Why an index operation on one message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Unknown,
    InFlight,
    Held,
}

/// Where a message was when an administrator deleted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeleteMark {
    /// Idle: now taken out of the due set until the delete ends ([`Index::finish`] or
    /// [`Index::put_back`]).
    Idle,
    /// Being attempted: the attempt will store neither its outcome nor a bounce.
    DuringAttempt,
}

/// What an attempt about to store its outcome must store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitKind {
    /// Its outcome, as decided.
    Outcome,
    /// Nothing of it: the message was deleted meanwhile; only its removal.
    Deleted,
}

impl Index {
    /// Makes one idle message due at `now`, and lifts its destination's back-off: an
    /// administrator asked for an attempt now. Returns that destination.
    pub fn retry(&mut self, id: QueueId, now: SystemTime) -> Result<Destination, Refusal> {
        let entry = self.entries.get(&id).ok_or(Refusal::Unknown)?;
        if entry.in_flight {
            return Err(Refusal::InFlight);
        }
        if entry.held {
            return Err(Refusal::Held);
        }
        let dest = entry.dest.clone();
        self.lanes.lift_backoff(Some(&dest));
        self.force(id, millis(now));
        Ok(dest)
    }

    /// Every destination with messages or state: lane health at `now`, and per destination
    /// the queued (unheld) count and the oldest arrival (ms), kept as
    /// entries change rather than counted here.
    pub fn destinations(
        &self,
        now: SystemTime,
    ) -> (Vec<LaneHealth>, HashMap<Destination, (usize, u64)>) {
        let queued = self.destination_tallies();
        (self.lanes.health(millis(now)), queued)
    }

    /// Makes an idle, unheld message due at `now` (ms) if it is due later; true if it was.
    pub(super) fn force(&mut self, id: QueueId, now: u64) -> bool {
        let Some(entry) = self.entries.get(&id).cloned() else {
            return false;
        };
        if entry.in_flight || entry.held || entry.key <= now {
            return false;
        }
        self.unlink(id, &entry);
        let Some(stored) = self.entries.get_mut(&id) else {
            return false;
        };
        stored.key = now;
        stored.forced = true;
        let stored = stored.clone();
        self.link(id, &stored);
        true
    }

    /// Sets the held flag (wherever the message is). While the schedule loads, a message not
    /// loaded yet gets the flag when it is.
    pub fn set_held(&mut self, id: QueueId, held: bool) -> Result<(), Refusal> {
        let Some(entry) = self.entries.get(&id).cloned() else {
            return if self.note_held(id, held) {
                Ok(())
            } else {
                Err(Refusal::Unknown)
            };
        };
        if !entry.in_flight {
            self.unlink(id, &entry);
        }
        self.uncount(&entry);
        let Some(stored) = self.entries.get_mut(&id) else {
            return Err(Refusal::Unknown);
        };
        stored.held = held;
        let stored = stored.clone();
        self.count(&stored);
        if !entry.in_flight {
            self.link(id, &stored);
        }
        Ok(())
    }

    /// Marks a message deleted before the store removes it. An idle one is taken out of the
    /// due set so that no attempt starts meanwhile; one being attempted is marked so that its
    /// attempt stores nothing. Refused while an attempt stores its outcome.
    pub fn mark_deleted(&mut self, id: QueueId) -> Result<DeleteMark, Refusal> {
        let entry = self.entries.get_mut(&id).ok_or(Refusal::Unknown)?;
        if entry.committing {
            return Err(Refusal::InFlight);
        }
        if entry.in_flight {
            entry.deleted = true;
            return Ok(DeleteMark::DuringAttempt);
        }
        self.take(id)?;
        Ok(DeleteMark::Idle)
    }

    /// Withdraws a delete mark the store could not carry out, unless the attempt already
    /// acted on it (then the attempt removes the message itself).
    pub fn unmark_deleted(&mut self, id: QueueId) {
        if let Some(entry) = self.entries.get_mut(&id) {
            if !entry.committing {
                entry.deleted = false;
            }
        }
    }

    /// Puts an entry taken by an administrative action back, unchanged.
    pub fn put_back(&mut self, id: QueueId) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.in_flight = false;
            let entry = entry.clone();
            self.link(id, &entry);
        }
    }

    /// An attempt is about to store its outcome: from now on a delete is refused. Says
    /// whether a delete came first.
    pub fn begin_commit(&mut self, id: QueueId) -> CommitKind {
        match self.entries.get_mut(&id) {
            Some(entry) => {
                entry.committing = true;
                if entry.deleted {
                    CommitKind::Deleted
                } else {
                    CommitKind::Outcome
                }
            }
            None => CommitKind::Outcome,
        }
    }
}
