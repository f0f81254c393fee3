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
//!
//! # Layout
//! - here: the entries, their sets, and an attempt's path through them.
//! - `admin`: what administrators change: retry, hold, delete marks, the destination view.
//! - `flush`: the flush, in chunks that each take the lock briefly.
//! - `counts`: the count of entries per admin state, kept as entries change.
//! - `by_destination`: per destination, its unheld entries and oldest arrival, kept likewise.
//! - `by_domain`: per recipient domain, its messages and pending recipients, kept likewise.
//! - `loading`: the schedule read in the background after start-up.

mod admin;
mod by_destination;
mod by_domain;
mod counts;
mod flush;
mod loading;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use envoi_types::QueueId;

use super::lanes::{BackoffSteps, Lanes};
use super::limits::Limits;
use crate::clock::{from_millis, millis};
use crate::destination::Destination;
use crate::storage::{RecipientDomains, ScheduleEntry, StateCounts};

pub(crate) use admin::{CommitKind, DeleteMark, Refusal};
pub(crate) use flush::FlushRun;
use loading::Loading;

#[derive(Debug, Clone)]
struct Entry {
    /// Position in its lane, in ms: its next attempt, or when it was forced.
    key: u64,
    next_attempt: u64,
    expiry: u64,
    held: bool,
    /// Failed scheduled attempts, as stored: with `held`, its admin state.
    attempts: u32,
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
    /// Its pending recipients per domain, when known (see `by_domain`).
    domains: Option<RecipientDomains>,
}

/// The due index. Not thread-safe by itself: the queue keeps it under a std mutex that is
/// never held across an await.
#[derive(Debug)]
pub(crate) struct Index {
    entries: HashMap<QueueId, Entry>,
    expiries: BTreeSet<(u64, QueueId)>,
    lanes: Lanes,
    lifetime_ms: u64,
    /// Entries per admin state, kept as they change (see `counts`).
    counts: StateCounts,
    /// Unheld entries per destination, kept as they change (see `by_destination`).
    by_destination: by_destination::Tallies,
    /// Entries and pending recipients per recipient domain (see `by_domain`).
    by_domain_names: by_domain::DomainTallies,
    /// While the stored schedule is still being read (see `loading`).
    loading: Option<Loading>,
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
            counts: StateCounts::default(),
            by_destination: by_destination::Tallies::new(),
            by_domain_names: by_domain::DomainTallies::default(),
            loading: None,
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
            self.uncount(&old);
        }
        let next_attempt = millis(entry.next_attempt);
        let new = Entry {
            key: next_attempt,
            next_attempt,
            expiry: millis(entry.arrival).saturating_add(self.lifetime_ms),
            held: entry.held,
            attempts: entry.attempts,
            in_flight: false,
            deleted: false,
            committing: false,
            forced: false,
            dest,
            slot: false,
            requeued: false,
            domains: entry
                .domains
                .as_ref()
                .map(|d| self.by_domain_names.intern(d)),
        };
        self.link(entry.id, &new);
        self.count(&new);
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
        let old = entry.clone();
        entry.dest = dest.clone();
        entry.slot = self.lanes.try_acquire(dest, millis(now));
        entry.requeued = !entry.slot;
        let (sorted, slot) = (entry.clone(), entry.slot);
        self.untally(&old);
        self.tally(&sorted);
        slot
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
            _ => self.forget(id),
        }
    }

    /// The stored attempt count of a message changed (an attempt's outcome was stored).
    pub fn set_attempts(&mut self, id: QueueId, attempts: u32) {
        let Some(old) = self.entries.get(&id).cloned() else {
            return;
        };
        self.uncount(&old);
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.attempts = attempts;
        }
        self.count(&Entry { attempts, ..old });
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

    /// True when the message is known.
    pub fn contains(&self, id: QueueId) -> bool {
        self.entries.contains_key(&id)
    }

    /// Forgets a message that left the queue (taken out of its sets before, if it was idle).
    fn forget(&mut self, id: QueueId) {
        if let Some(old) = self.entries.remove(&id) {
            self.uncount(&old);
        }
        self.note_gone(id);
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
