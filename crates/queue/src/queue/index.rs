//! The scheduler's in-memory index: one small entry per queued message, no body, no addresses.
//!
//! Every idle message sits in the expiry set, keyed by its expiry (held messages still
//! expire); every idle, unheld one also sits in its destination's lane (see `lanes`), keyed
//! by when it is due: its next attempt, or the time a flush or retry forced it. An entry
//! being attempted is in neither, which is what keeps two attempts of one message apart.
//!
//! The next message to start is the first one past its expiry (its attempt only expires it,
//! with no relay call), else the next from the lanes, in turn, whose destination has a slot
//! free: the slot is taken then, never before.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use envoi_types::QueueId;

use super::lanes::{BackoffSteps, LaneHealth, Lanes};
use super::limits::Limits;
use crate::clock::{from_millis, millis};
use crate::destination::Destination;
use crate::storage::ScheduleEntry;

#[derive(Debug, Clone)]
struct Entry {
    /// Position in its lane, in ms: its next attempt, or when it was forced.
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
    /// The lane it waits in.
    dest: Destination,
    /// In flight holding a slot of its destination.
    slot: bool,
    /// In flight but put back before the relay was called: its destination had no slot free.
    /// It ends with its key and forced flag as they were.
    requeued: bool,
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
#[derive(Debug)]
pub(crate) struct Index {
    entries: HashMap<QueueId, Entry>,
    expiries: BTreeSet<(u64, QueueId)>,
    lanes: Lanes,
    lifetime_ms: u64,
}

impl Index {
    /// An empty index: messages expire `lifetime` after arrival; deliveries start within
    /// each destination's `limits`, and one that cannot be reached is backed off by
    /// `backoff`.
    pub fn new(lifetime: std::time::Duration, limits: Limits, backoff: BackoffSteps) -> Self {
        Self {
            entries: HashMap::new(),
            expiries: BTreeSet::new(),
            lanes: Lanes::new(limits, backoff),
            lifetime_ms: u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds (or replaces, unless in flight) a message's entry, in `dest`'s lane.
    pub fn insert(&mut self, entry: &ScheduleEntry, dest: Destination) {
        if self.entries.get(&entry.id).is_some_and(|e| e.in_flight) {
            return;
        }
        if let Some(old) = self.entries.remove(&entry.id) {
            self.unlink(entry.id, &old);
        }
        let next_attempt = millis(entry.next_attempt);
        let new = Entry {
            key: next_attempt,
            next_attempt,
            expiry: millis(entry.arrival).saturating_add(self.lifetime_ms),
            held: entry.held,
            in_flight: false,
            deleted: false,
            committing: false,
            forced: false,
            dest,
            slot: false,
            requeued: false,
        };
        self.link(entry.id, &new);
        self.entries.insert(entry.id, new);
    }

    /// Takes the next message to start at `now` out of the index's sets and marks it in
    /// flight (see the module docs for which); true with it when a flush or retry made it
    /// due early.
    pub fn pop_due(&mut self, now: SystemTime) -> Option<(QueueId, bool)> {
        let now = millis(now);
        let expired = self.expiries.first().filter(|&&(expiry, _)| expiry <= now);
        let (id, slot) = match expired {
            Some(&(_, id)) => (id, false),
            None => (self.lanes.pop(now)?.1, true),
        };
        let entry = self.entries.get(&id)?.clone();
        if slot {
            // The lane gave it up already; the expiry set still has it.
            self.expiries.remove(&(entry.expiry, id));
        } else {
            self.unlink(id, &entry);
        }
        let entry = self.entries.get_mut(&id)?;
        entry.in_flight = true;
        entry.slot = slot;
        // Cleared when the attempt ends: a requeued attempt stays forced.
        Some((id, entry.forced))
    }

    /// Marks a message in flight for an administrative action, if it is idle.
    pub fn take(&mut self, id: QueueId) -> Result<(), Refusal> {
        let entry = self.entries.get(&id).ok_or(Refusal::Unknown)?.clone();
        if entry.in_flight {
            return Err(Refusal::InFlight);
        }
        self.unlink(id, &entry);
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.in_flight = true;
        }
        Ok(())
    }

    /// The earliest wake time, if any entry waits.
    pub fn next_wake(&self) -> Option<SystemTime> {
        let expiry = self.expiries.first().map(|&(key, _)| key);
        let due = self.lanes.next_wake();
        expiry.into_iter().chain(due).min().map(from_millis)
    }

    /// A message in flight learnt its destination from its claim: moves it to `dest`'s lane
    /// and holds a slot there. False when `dest` has no slot free: then the attempt must not
    /// call the relay, and the message ends due as it was (see [`Index::finish`]).
    pub fn sort(&mut self, id: QueueId, dest: &Destination, now: SystemTime) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return true;
        };
        if entry.slot && entry.dest == *dest {
            return true;
        }
        if entry.slot {
            self.lanes.release(&entry.dest);
        }
        entry.dest = dest.clone();
        entry.slot = self.lanes.try_acquire(dest, millis(now));
        entry.requeued = !entry.slot;
        entry.slot
    }

    /// Ends an attempt: `Some(next)` keeps the message due at `next` (held flag as the index
    /// has it now, since an admin may have changed it meanwhile); `None` forgets it. A
    /// requeued message keeps its key (and a forced one stays forced).
    pub fn finish(&mut self, id: QueueId, next: Option<SystemTime>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if std::mem::take(&mut entry.slot) {
            self.lanes.release(&entry.dest);
        }
        entry.in_flight = false;
        entry.committing = false;
        let requeued = std::mem::take(&mut entry.requeued);
        if !requeued {
            entry.forced = false;
        }
        match next {
            Some(next) if !entry.deleted => {
                entry.next_attempt = millis(next);
                if !(requeued && entry.forced) {
                    entry.key = entry.next_attempt;
                }
                let entry = entry.clone();
                self.link(id, &entry);
            }
            _ => {
                self.entries.remove(&id);
            }
        }
    }

    /// What the relay said about the destination of message `id` (in flight): `Some(error)`
    /// when it could not be reached at `now` (the destination is backed off), `None` when it
    /// was reached. Returns that destination, if the message is still known, and whether its
    /// state changed in a way other nodes should hear of (backed off, or reached after
    /// failing).
    pub fn destination_result(
        &mut self,
        id: QueueId,
        now: SystemTime,
        error: Option<String>,
    ) -> Option<(Destination, bool)> {
        let dest = self.entries.get(&id).map(|e| e.dest.clone())?;
        let changed = match error {
            Some(error) => {
                self.lanes.unreachable(&dest, millis(now), error);
                true
            }
            None => self.lanes.reachable(&dest),
        };
        Some((dest, changed))
    }

    /// The destination of message `id`, if known.
    pub fn destination_of(&self, id: QueueId) -> Option<Destination> {
        self.entries.get(&id).map(|e| e.dest.clone())
    }

    /// The lanes, for the cluster-wide state of destinations (`cluster`).
    pub fn lanes_mut(&mut self) -> &mut Lanes {
        &mut self.lanes
    }

    /// Suspends `dest` until `until` (`None`: until resumed).
    pub fn suspend(&mut self, dest: &Destination, until: Option<SystemTime>, reason: String) {
        self.lanes.suspend(dest, until.map(millis), reason);
    }

    /// Ends the suspension of `dest`; false when there was none.
    pub fn resume(&mut self, dest: &Destination) -> bool {
        self.lanes.resume(dest)
    }

    /// Makes every idle, unheld message due at `now` and lifts every destination's back-off;
    /// returns how many messages were waiting (for their time or their destination).
    pub fn flush(&mut self, now: SystemTime) -> usize {
        let lifted = self.lanes.lift_backoff(None);
        let ids: Vec<QueueId> = self.entries.keys().copied().collect();
        ids.into_iter()
            .filter(|&id| {
                let forced = self.force(id, millis(now));
                forced
                    || self
                        .entries
                        .get(&id)
                        .is_some_and(|e| !e.in_flight && !e.held && lifted.contains(&e.dest))
            })
            .count()
    }

    /// Makes one idle message due at `now`, and lifts its destination's back-off: an
    /// administrator asked for an attempt now.
    pub fn retry(&mut self, id: QueueId, now: SystemTime) -> Result<(), Refusal> {
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
        Ok(())
    }

    /// Every destination with messages or state: lane health at `now`, and per destination
    /// the queued (unheld) count and the oldest arrival (ms).
    pub fn destinations(
        &self,
        now: SystemTime,
    ) -> (Vec<LaneHealth>, HashMap<Destination, (usize, u64)>) {
        let mut queued: HashMap<Destination, (usize, u64)> = HashMap::new();
        for entry in self.entries.values().filter(|e| !e.held) {
            let arrival = entry.expiry.saturating_sub(self.lifetime_ms);
            let counts = queued.entry(entry.dest.clone()).or_insert((0, arrival));
            counts.0 += 1;
            counts.1 = counts.1.min(arrival);
        }
        (self.lanes.health(millis(now)), queued)
    }

    /// Makes an idle, unheld message due at `now` (ms) if it is due later; true if it was.
    fn force(&mut self, id: QueueId, now: u64) -> bool {
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

    /// Sets the held flag (wherever the message is).
    pub fn set_held(&mut self, id: QueueId, held: bool) -> Result<(), Refusal> {
        let entry = self.entries.get(&id).ok_or(Refusal::Unknown)?.clone();
        if !entry.in_flight {
            self.unlink(id, &entry);
        }
        let Some(stored) = self.entries.get_mut(&id) else {
            return Err(Refusal::Unknown);
        };
        stored.held = held;
        if !entry.in_flight {
            let stored = stored.clone();
            self.link(id, &stored);
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

    /// Puts an idle entry in the expiry set and, unless held, its lane.
    fn link(&mut self, id: QueueId, entry: &Entry) {
        self.expiries.insert((entry.expiry, id));
        if !entry.held {
            self.lanes.link(&entry.dest, entry.key, id);
        }
    }

    /// Takes an entry out of the expiry set and its lane.
    fn unlink(&mut self, id: QueueId, entry: &Entry) {
        self.expiries.remove(&(entry.expiry, id));
        self.lanes.unlink(&entry.dest, entry.key, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const STEPS: BackoffSteps = BackoffSteps {
        base: Duration::from_secs(60),
        max: Duration::from_secs(1800),
    };

    fn no_limits() -> Limits {
        Limits::new(20, None, &std::collections::BTreeMap::new())
    }

    impl Index {
        fn insert_any(&mut self, entry: &ScheduleEntry) {
            self.insert(entry, Destination::new("dst.test"));
        }
    }

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
        let mut index = Index::new(Duration::from_secs(1000), no_limits(), STEPS);
        let (a, b) = (QueueId::new(), QueueId::new());
        index.insert_any(&entry(a, 20, false));
        index.insert_any(&entry(b, 10, false));
        assert_eq!(index.pop_due(at(5)), None);
        assert_eq!(index.pop_due(at(30)), Some((b, false)));
        assert_eq!(index.pop_due(at(30)), Some((a, false)));
        assert_eq!(index.pop_due(at(30)), None);
        index.insert_any(&entry(a, 0, false)); // ignored while in flight
        assert_eq!(index.pop_due(at(30)), None);
        index.finish(a, Some(at(40)));
        assert_eq!(index.next_wake(), Some(at(40)));
    }

    #[test]
    fn held_entries_wake_only_at_expiry() {
        let mut index = Index::new(Duration::from_secs(100), no_limits(), STEPS);
        let a = QueueId::new();
        index.insert_any(&entry(a, 10, true));
        assert_eq!(index.next_wake(), Some(at(100)));
        assert_eq!(index.flush(at(20)), 0);
        assert_eq!(index.retry(a, at(20)), Err(Refusal::Held));
        index.set_held(a, false).unwrap();
        assert_eq!(index.next_wake(), Some(at(10)));
    }

    #[test]
    fn flush_makes_deferred_due_now() {
        let mut index = Index::new(Duration::from_secs(10_000), no_limits(), STEPS);
        let a = QueueId::new();
        index.insert_any(&entry(a, 500, false));
        assert_eq!(index.flush(at(20)), 1);
        assert_eq!(index.pop_due(at(20)), Some((a, true)), "a forced attempt");
        index.finish(a, Some(at(500)));
        assert_eq!(index.pop_due(at(500)), Some((a, false)), "a scheduled one");
    }

    #[test]
    fn delete_in_flight_forgets_at_finish() {
        let mut index = Index::new(Duration::from_secs(10_000), no_limits(), STEPS);
        let a = QueueId::new();
        index.insert_any(&entry(a, 0, false));
        assert_eq!(index.pop_due(at(1)), Some((a, false)));
        assert_eq!(index.mark_deleted(a), Ok(DeleteMark::DuringAttempt));
        assert_eq!(index.begin_commit(a), CommitKind::Deleted);
        index.finish(a, Some(at(5)));
        assert!(!index.contains(a));
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn a_delete_is_refused_once_the_outcome_is_being_stored() {
        let mut index = Index::new(Duration::from_secs(10_000), no_limits(), STEPS);
        let a = QueueId::new();
        index.insert_any(&entry(a, 0, false));
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
