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
        };
        new.key = new.wake_key();
        self.due.insert((new.key, entry.id));
        self.entries.insert(entry.id, new);
    }

    /// Takes the earliest entry due at `now` out of the due set and marks it in flight.
    pub fn pop_due(&mut self, now: SystemTime) -> Option<QueueId> {
        let &(key, id) = self.due.first()?;
        if key > millis(now) {
            return None;
        }
        self.due.remove(&(key, id));
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.in_flight = true;
        }
        Some(id)
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
        self.rekey(id, |e| e.key = millis(now).min(e.key));
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

    /// Forgets a message now, or when its attempt ends if it is in flight.
    pub fn delete(&mut self, id: QueueId) {
        match self.entries.get_mut(&id) {
            Some(entry) if entry.in_flight => entry.deleted = true,
            Some(_) => self.unlink(id),
            None => {}
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
        assert_eq!(index.pop_due(at(30)), Some(b));
        assert_eq!(index.pop_due(at(30)), Some(a));
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
        assert_eq!(index.pop_due(at(20)), Some(a));
    }

    #[test]
    fn delete_in_flight_forgets_at_finish() {
        let mut index = Index::new(Duration::from_secs(10_000));
        let a = QueueId::new();
        index.insert(&entry(a, 0, false));
        assert_eq!(index.pop_due(at(1)), Some(a));
        index.delete(a);
        index.finish(a, Some(at(5)));
        assert!(!index.contains(a));
        assert_eq!(index.len(), 0);
    }
}
