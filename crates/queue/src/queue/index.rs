//! The scheduler's in-memory index: one small entry per queued message, no body, no addresses.
//!
//! Each entry sits in a due set keyed by its wake time: `min(next attempt, expiry)` for a
//! scheduled message, its expiry for a held one (held messages still expire). An entry being
//! attempted is out of the due set, which is what keeps two attempts of one message apart.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use envoi_types::QueueId;

use crate::clock::{from_millis, millis};
use crate::storage::ScheduleEntry;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Position in the due set, in ms; meaningless while in flight.
    key: u64,
    next_attempt: u64,
    expiry: u64,
    held: bool,
    in_flight: bool,
    /// Deleted by an administrator while in flight: drop it when the attempt ends.
    deleted: bool,
    /// In flight and storing its outcome: a delete now is refused (the outcome is decided).
    committing: bool,
    /// Made due before its next attempt by a flush or retry (a forced attempt).
    forced: bool,
}

impl Entry {
    fn wake_key(&self) -> u64 {
        if self.held {
            self.expiry
        } else {
            self.next_attempt.min(self.expiry)
        }
    }
}

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

/// The due index. Not thread-safe by itself: the queue keeps it under a std mutex that is
/// never held across an await.
#[derive(Debug, Default)]
pub(crate) struct Index {
    entries: HashMap<QueueId, Entry>,
    due: BTreeSet<(u64, QueueId)>,
    lifetime_ms: u64,
}

impl Index {
    pub fn new(lifetime: std::time::Duration) -> Self {
        Self {
            lifetime_ms: u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX),
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds (or replaces, unless in flight) a message's entry.
    pub fn insert(&mut self, entry: &ScheduleEntry) {
        if self.entries.get(&entry.id).is_some_and(|e| e.in_flight) {
            return;
        }
        self.unlink(entry.id);
        let mut new = Entry {
            key: 0,
            next_attempt: millis(entry.next_attempt),
            expiry: millis(entry.arrival).saturating_add(self.lifetime_ms),
            held: entry.held,
            in_flight: false,
            deleted: false,
            committing: false,
            forced: false,
        };
        new.key = new.wake_key();
        self.due.insert((new.key, entry.id));
        self.entries.insert(entry.id, new);
    }

    /// Takes the earliest entry due at `now` out of the due set and marks it in flight; true
    /// with it when a flush or retry made it due early.
    pub fn pop_due(&mut self, now: SystemTime) -> Option<(QueueId, bool)> {
        let &(key, id) = self.due.first()?;
        if key > millis(now) {
            return None;
        }
        self.due.remove(&(key, id));
        let mut forced = false;
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.in_flight = true;
            forced = std::mem::take(&mut entry.forced);
        }
        Some((id, forced))
    }

    /// Marks a message in flight for an administrative action, if it is idle.
    pub fn take(&mut self, id: QueueId) -> Result<(), Refusal> {
        let entry = self.entries.get_mut(&id).ok_or(Refusal::Unknown)?;
        if entry.in_flight {
            return Err(Refusal::InFlight);
        }
        entry.in_flight = true;
        let key = entry.key;
        self.due.remove(&(key, id));
        Ok(())
    }

    /// The earliest wake time, if any entry waits.
    pub fn next_wake(&self) -> Option<SystemTime> {
        self.due.first().map(|&(key, _)| from_millis(key))
    }

    /// Ends an attempt: `Some(next)` keeps the message due at `next` (held flag as the index
    /// has it now, since an admin may have changed it meanwhile); `None` forgets it.
    pub fn finish(&mut self, id: QueueId, next: Option<SystemTime>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.in_flight = false;
        entry.committing = false;
        entry.forced = false;
        match next {
            Some(next) if !entry.deleted => {
                entry.next_attempt = millis(next);
                entry.key = entry.wake_key();
                let key = entry.key;
                self.due.insert((key, id));
            }
            _ => {
                self.entries.remove(&id);
            }
        }
    }

    /// Makes every idle, unheld message due at `now`; returns how many.
    pub fn flush(&mut self, now: SystemTime) -> usize {
        let now = millis(now);
        let mut count = 0;
        let mut rekeyed = BTreeSet::new();
        for (id, entry) in &mut self.entries {
            if entry.in_flight {
                continue;
            }
            if !entry.held && entry.key > now {
                entry.key = now;
                entry.forced = true;
                count += 1;
            }
            rekeyed.insert((entry.key, *id));
        }
        self.due = rekeyed;
        count
    }

    /// Makes one idle message due at `now`.
    pub fn retry(&mut self, id: QueueId, now: SystemTime) -> Result<(), Refusal> {
        let entry = self.entries.get(&id).ok_or(Refusal::Unknown)?;
        if entry.in_flight {
            return Err(Refusal::InFlight);
        }
        if entry.held {
            return Err(Refusal::Held);
        }
        self.rekey(id, |e| {
            let now = millis(now);
            if now < e.key {
                e.key = now;
                e.forced = true;
            }
        });
        Ok(())
    }

    /// Sets the held flag (wherever the message is).
    pub fn set_held(&mut self, id: QueueId, held: bool) -> Result<(), Refusal> {
        let entry = self.entries.get_mut(&id).ok_or(Refusal::Unknown)?;
        entry.held = held;
        if !entry.in_flight {
            self.rekey(id, |e| e.key = e.wake_key());
        }
        Ok(())
    }

    /// True when the message is known.
    pub fn contains(&self, id: QueueId) -> bool {
        self.entries.contains_key(&id)
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

    /// Puts an entry taken by an administrative action back in the due set, unchanged.
    pub fn put_back(&mut self, id: QueueId) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.in_flight = false;
            entry.key = entry.wake_key();
            let key = entry.key;
            self.due.insert((key, id));
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

    fn rekey(&mut self, id: QueueId, change: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.entries.get_mut(&id) {
            self.due.remove(&(entry.key, id));
            change(entry);
            self.due.insert((entry.key, id));
        }
    }

    fn unlink(&mut self, id: QueueId) {
        if let Some(old) = self.entries.remove(&id) {
            self.due.remove(&(old.key, id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    fn entry(id: QueueId, next: u64, held: bool) -> ScheduleEntry {
        ScheduleEntry {
            id,
            next_attempt: at(next),
            arrival: at(0),
            held,
        }
    }

    #[test]
    fn pops_in_due_order_and_never_twice() {
        let mut index = Index::new(Duration::from_secs(1000));
        let (a, b) = (QueueId::new(), QueueId::new());
        index.insert(&entry(a, 20, false));
        index.insert(&entry(b, 10, false));
        assert_eq!(index.pop_due(at(5)), None);
        assert_eq!(index.pop_due(at(30)), Some((b, false)));
        assert_eq!(index.pop_due(at(30)), Some((a, false)));
        assert_eq!(index.pop_due(at(30)), None);
        index.insert(&entry(a, 0, false)); // ignored while in flight
        assert_eq!(index.pop_due(at(30)), None);
        index.finish(a, Some(at(40)));
        assert_eq!(index.next_wake(), Some(at(40)));
    }

    #[test]
    fn held_entries_wake_only_at_expiry() {
        let mut index = Index::new(Duration::from_secs(100));
        let a = QueueId::new();
        index.insert(&entry(a, 10, true));
        assert_eq!(index.next_wake(), Some(at(100)));
        assert_eq!(index.flush(at(20)), 0);
        assert_eq!(index.retry(a, at(20)), Err(Refusal::Held));
        index.set_held(a, false).unwrap();
        assert_eq!(index.next_wake(), Some(at(10)));
    }

    #[test]
    fn flush_makes_deferred_due_now() {
        let mut index = Index::new(Duration::from_secs(10_000));
        let a = QueueId::new();
        index.insert(&entry(a, 500, false));
        assert_eq!(index.flush(at(20)), 1);
        assert_eq!(index.pop_due(at(20)), Some((a, true)), "a forced attempt");
        index.finish(a, Some(at(500)));
        assert_eq!(index.pop_due(at(500)), Some((a, false)), "a scheduled one");
    }

    #[test]
    fn delete_in_flight_forgets_at_finish() {
        let mut index = Index::new(Duration::from_secs(10_000));
        let a = QueueId::new();
        index.insert(&entry(a, 0, false));
        assert_eq!(index.pop_due(at(1)), Some((a, false)));
        assert_eq!(index.mark_deleted(a), Ok(DeleteMark::DuringAttempt));
        assert_eq!(index.begin_commit(a), CommitKind::Deleted);
        index.finish(a, Some(at(5)));
        assert!(!index.contains(a));
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn a_delete_is_refused_once_the_outcome_is_being_stored() {
        let mut index = Index::new(Duration::from_secs(10_000));
        let a = QueueId::new();
        index.insert(&entry(a, 0, false));
        assert_eq!(index.pop_due(at(1)), Some((a, false)));
        assert_eq!(index.begin_commit(a), CommitKind::Outcome);
        assert_eq!(index.mark_deleted(a), Err(Refusal::InFlight));
        index.finish(a, Some(at(5)));
        assert_eq!(index.mark_deleted(a), Ok(DeleteMark::Idle));
        assert_eq!(
            index.pop_due(at(10)),
            None,
            "taken while the store removes it"
        );
        index.put_back(a);
        assert_eq!(index.pop_due(at(10)), Some((a, false)));
    }
}
