//! Per-destination ready queues ("lanes"), served round-robin.
//!
//! Each lane holds the idle, unheld messages of one destination in due order (the key is the
//! time the message is due, in ms, then its id) and counts the attempts it has in flight. A
//! lane can start a delivery when its first message is due and it has a free slot; the lanes
//! that can are served in turn, starting after the one served last, so a backlog in one lane
//! cannot starve the others. Within a lane the due order is kept.
//!
//! A lane also remembers its destination's health: after an attempt that could not connect
//! it is backed off (nothing starts until then, expiries aside), for `base` doubling per
//! consecutive failure up to `max`; a reachable attempt or a flush clears it. An
//! administrator may suspend a lane (for a while, or until resumed): nothing starts either.
//! On a shared store, back-offs and suspensions are also synced with the other nodes
//! (`shared`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use std::time::Duration;

use envoi_types::QueueId;

use super::limits::Limits;
use crate::destination::Destination;

mod shared;

/// One destination's ready queue, its attempts in flight and its health.
#[derive(Debug, Default)]
struct Lane {
    waiting: BTreeSet<(u64, QueueId)>,
    in_flight: usize,
    /// Consecutive attempts that could not connect.
    failures: u32,
    /// Backed off until then (ms): nothing starts before.
    backed_off_until: Option<u64>,
    /// The last failure's reply, for administrators.
    last_error: Option<String>,
    /// The back-off is in the shared store (recorded by this node, or adopted from another):
    /// it ends here when it ends there.
    backoff_shared: bool,
    /// The sync epoch ([`Lanes::begin_sync`]) of the last change made here (suspend, resume,
    /// flush, a back-off recorded): a sync that read the store before it does not undo it.
    touched: u64,
    /// Suspended by an administrator: until then (ms; `None`: until resumed), and why.
    suspension: Option<(Option<u64>, String)>,
    /// With a rate limit: no start before then (µs). One token, no burst.
    next_start_us: u64,
}

impl Lane {
    /// True when forgetting the lane loses nothing: `now` (ms) is past its rate spacing.
    fn is_idle(&self, now: u64) -> bool {
        self.next_start_us <= now.saturating_mul(1000)
            && self.waiting.is_empty()
            && self.in_flight == 0
            && self.failures == 0
            && self.last_error.is_none()
            && self.suspension.is_none()
    }

    fn is_backed_off(&self, now: u64) -> bool {
        self.backed_off_until.is_some_and(|until| now < until)
    }

    /// True while no delivery may start for a reason other than the slots: back-off or
    /// suspension.
    fn is_stopped(&self, now: u64) -> bool {
        let suspended = self
            .suspension
            .as_ref()
            .is_some_and(|(until, _)| until.is_none_or(|until| now < until));
        suspended || self.is_backed_off(now)
    }

    /// True when its rate limit lets a delivery start at `now` (ms).
    fn rate_allows(&self, now: u64) -> bool {
        self.next_start_us <= now.saturating_mul(1000)
    }

    /// A delivery starts at `now` (ms): the next may start `interval_us` later.
    fn started(&mut self, now: u64, interval_us: u64) {
        if interval_us > 0 {
            let base = self.next_start_us.max(now.saturating_mul(1000));
            self.next_start_us = base.saturating_add(interval_us);
        }
    }

    /// When the lane may start again, as far as back-off, suspension and rate say (0: now);
    /// `None` while suspended until resumed.
    fn open_at(&self) -> Option<u64> {
        let backoff = self
            .backed_off_until
            .unwrap_or(0)
            .max(self.next_start_us.div_ceil(1000));
        match &self.suspension {
            Some((None, _)) => None,
            Some((Some(until), _)) => Some(backoff.max(*until)),
            None => Some(backoff),
        }
    }
}

/// One lane's state for administrators (times in ms).
#[derive(Debug, Clone)]
pub(crate) struct LaneHealth {
    pub dest: Destination,
    pub in_flight: usize,
    pub failures: u32,
    pub last_error: Option<String>,
    pub backed_off_until: Option<u64>,
    pub suspension: Option<(Option<u64>, String)>,
}

/// How long a destination that could not be reached is backed off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BackoffSteps {
    /// After the first failure.
    pub base: Duration,
    /// At most.
    pub max: Duration,
}

impl BackoffSteps {
    /// The back-off after `failures` consecutive failures (at least one), in ms.
    fn after(self, failures: u32) -> u64 {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        let delay = self.base.saturating_mul(factor).min(self.max);
        u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Every destination's lane, and whose turn is next.
#[derive(Debug)]
pub(crate) struct Lanes {
    lanes: BTreeMap<Destination, Lane>,
    /// The lane served last: the next turn starts after it.
    cursor: Option<Destination>,
    /// Attempts in flight and starts per second, per destination.
    limits: Limits,
    backoff: BackoffSteps,
    /// The latest time (ms) a start was asked for: lanes idle by then may be forgotten.
    now: u64,
    /// Counts syncs with a shared store ([`Lanes::begin_sync`]).
    epoch: u64,
}

impl Lanes {
    pub fn new(limits: Limits, backoff: BackoffSteps) -> Self {
        Self {
            lanes: BTreeMap::new(),
            cursor: None,
            limits,
            backoff,
            now: 0,
            epoch: 0,
        }
    }

    /// An attempt to `dest` could not connect at `now` (ms): backs it off, `error` saying why.
    pub fn unreachable(&mut self, dest: &Destination, now: u64, error: String) {
        if dest.is_unsorted() {
            return;
        }
        let steps = self.backoff;
        let lane = self.lanes.entry(dest.clone()).or_default();
        lane.failures = lane.failures.saturating_add(1);
        lane.backed_off_until = Some(now.saturating_add(steps.after(lane.failures)));
        lane.last_error = Some(error);
    }

    /// Suspends `dest` until `until` (ms; `None`: until resumed), replacing any suspension.
    pub fn suspend(&mut self, dest: &Destination, until: Option<u64>, reason: String) {
        let lane = self.lanes.entry(dest.clone()).or_default();
        lane.suspension = Some((until, reason));
        lane.touched = self.epoch;
    }

    /// Ends the suspension of `dest`; false when there was none.
    pub fn resume(&mut self, dest: &Destination) -> bool {
        let Some(lane) = self.lanes.get_mut(dest) else {
            return false;
        };
        let was = lane.suspension.take().is_some();
        lane.touched = self.epoch;
        self.forget_if_idle(dest);
        was
    }

    /// An attempt to `dest` reached it: its back-off and last error are cleared. True when
    /// it had failed before (there was something to clear).
    pub fn reachable(&mut self, dest: &Destination) -> bool {
        let Some(lane) = self.lanes.get_mut(dest) else {
            return false;
        };
        let had_failed = lane.failures > 0 || lane.backed_off_until.is_some();
        lane.failures = 0;
        lane.backed_off_until = None;
        lane.backoff_shared = false;
        lane.last_error = None;
        self.forget_if_idle(dest);
        had_failed
    }

    /// Lifts the back-off of `dest`, or of every destination (a flush): they may start now.
    /// Their failure count stays, so a destination still down backs off longer. Returns the
    /// destinations that were backed off.
    pub fn lift_backoff(&mut self, dest: Option<&Destination>) -> Vec<Destination> {
        let mut lifted = Vec::new();
        for (name, lane) in &mut self.lanes {
            if dest.is_none_or(|d| d == name) && lane.backed_off_until.take().is_some() {
                lane.backoff_shared = false;
                lane.touched = self.epoch;
                lifted.push(name.clone());
            }
        }
        lifted
    }

    /// Puts a message in its destination's lane, due at `key` (ms).
    pub fn link(&mut self, dest: &Destination, key: u64, id: QueueId) {
        match self.lanes.get_mut(dest) {
            Some(lane) => {
                lane.waiting.insert((key, id));
            }
            None => {
                let mut lane = Lane::default();
                lane.waiting.insert((key, id));
                self.lanes.insert(dest.clone(), lane);
            }
        }
    }

    /// Takes a message out of its lane (if it is there).
    pub fn unlink(&mut self, dest: &Destination, key: u64, id: QueueId) {
        if let Some(lane) = self.lanes.get_mut(dest) {
            lane.waiting.remove(&(key, id));
            self.forget_if_idle(dest);
        }
    }

    /// The next message to deliver at `now` (ms): the first due message of the first lane,
    /// in turn, that has a free slot. Takes the slot.
    pub fn pop(&mut self, now: u64) -> Option<(Destination, QueueId)> {
        self.now = self.now.max(now);
        let Some(dest) = self.next_ready(now) else {
            // Nothing to start: a good moment to forget lanes whose rate spacing has passed.
            self.lanes.retain(|_, lane| !lane.is_idle(now));
            return None;
        };
        let interval = self.limits.of(&dest).interval_us;
        let lane = self.lanes.get_mut(&dest)?;
        let (_, id) = lane.waiting.pop_first()?;
        lane.in_flight += 1;
        lane.started(now, interval);
        self.cursor = Some(dest.clone());
        Some((dest, id))
    }

    /// Takes a slot of `dest` for a message that learnt its destination in flight; false when
    /// the destination has none free.
    pub fn try_acquire(&mut self, dest: &Destination, now: u64) -> bool {
        self.now = self.now.max(now);
        let limits = self.limits.of(dest);
        let lane = self.lanes.entry(dest.clone()).or_default();
        if lane.in_flight >= limits.max_in_flight || lane.is_stopped(now) || !lane.rate_allows(now)
        {
            self.forget_if_idle(dest);
            return false;
        }
        lane.in_flight += 1;
        lane.started(now, limits.interval_us);
        true
    }

    /// Gives back a slot of `dest`.
    pub fn release(&mut self, dest: &Destination) {
        if let Some(lane) = self.lanes.get_mut(dest) {
            lane.in_flight = lane.in_flight.saturating_sub(1);
            self.forget_if_idle(dest);
        }
    }

    /// The earliest time (ms) some lane with a free slot has a message due (or its back-off
    /// or suspension ends, if later). Lanes without a free slot wake the scheduler when an
    /// attempt ends; a lane suspended until resumed, at the resume.
    pub fn next_wake(&self) -> Option<u64> {
        self.lanes
            .iter()
            .filter(|(dest, lane)| lane.in_flight < self.limit(dest))
            .filter_map(|(_, lane)| {
                let due = lane.waiting.first().map(|&(key, _)| key)?;
                Some(due.max(lane.open_at()?))
            })
            .min()
    }

    /// The administrators' view of every lane with something to show at `now` (ms): its
    /// name, in flight, failures, last error, back-off end and suspension (end, reason).
    pub fn health(&self, now: u64) -> Vec<LaneHealth> {
        self.lanes
            .iter()
            .filter(|(dest, _)| !dest.is_unsorted())
            .map(|(dest, lane)| LaneHealth {
                dest: dest.clone(),
                in_flight: lane.in_flight,
                failures: lane.failures,
                last_error: lane.last_error.clone(),
                backed_off_until: lane.backed_off_until.filter(|&until| now < until),
                suspension: lane
                    .suspension
                    .clone()
                    .filter(|(until, _)| until.is_none_or(|until| now < until)),
            })
            .collect()
    }

    /// Attempts in flight to `dest`.
    #[cfg(test)]
    pub fn in_flight(&self, dest: &Destination) -> usize {
        self.lanes.get(dest).map_or(0, |lane| lane.in_flight)
    }

    fn limit(&self, dest: &Destination) -> usize {
        self.limits.of(dest).max_in_flight
    }

    /// The first lane, in turn from the cursor, that can start a delivery at `now`.
    fn next_ready(&self, now: u64) -> Option<Destination> {
        let can_start = |(dest, lane): &(&Destination, &Lane)| {
            lane.in_flight < self.limit(dest)
                && !lane.is_stopped(now)
                && lane.rate_allows(now)
                && lane.waiting.first().is_some_and(|&(key, _)| key <= now)
        };
        let found = match &self.cursor {
            Some(cursor) => self
                .lanes
                .range::<Destination, _>((Bound::Excluded(cursor), Bound::Unbounded))
                .chain(self.lanes.range::<Destination, _>(..=cursor))
                .find(can_start),
            None => self.lanes.iter().find(can_start),
        };
        found.map(|(dest, _)| dest.clone())
    }

    fn forget_if_idle(&mut self, dest: &Destination) {
        let now = self.now;
        // A lane changed during a sync is kept until that sync is over, so that the sync
        // knows not to undo the change.
        let epoch = self.epoch;
        let idle = |lane: &Lane| lane.is_idle(now) && (epoch == 0 || lane.touched < epoch);
        if self.lanes.get(dest).is_some_and(idle) {
            self.lanes.remove(dest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_in_flight: usize) -> Limits {
        Limits::new(max_in_flight, None, &std::collections::BTreeMap::new())
    }

    #[test]
    fn a_rate_limited_lane_spaces_its_starts_in_order() {
        let a = Destination::new("a.test");
        let mut lanes = Lanes::new(Limits::new(10, Some(4.0), &Default::default()), STEPS);
        let ids: Vec<QueueId> = (0..3).map(|_| QueueId::new()).collect();
        for (n, id) in ids.iter().enumerate() {
            lanes.link(&a, n as u64, *id);
        }
        assert_eq!(lanes.pop(1_000), Some((a.clone(), ids[0])));
        assert_eq!(lanes.pop(1_100), None, "250 ms apart");
        assert_eq!(lanes.next_wake(), Some(1_250));
        assert_eq!(lanes.pop(1_250), Some((a.clone(), ids[1])));
        assert_eq!(lanes.pop(1_600), Some((a.clone(), ids[2])));
        lanes.release(&a);
        lanes.release(&a);
        lanes.release(&a);
        assert!(!lanes.lanes.is_empty(), "its spacing is remembered");
        assert!(!lanes.try_acquire(&a, 1_700));
        assert_eq!(lanes.pop(1_900), None);
        assert!(
            lanes.lanes.is_empty(),
            "forgotten once the spacing has passed"
        );
    }

    const STEPS: BackoffSteps = BackoffSteps {
        base: Duration::from_secs(10),
        max: Duration::from_secs(25),
    };

    #[test]
    fn a_backed_off_lane_waits_doubling_up_to_the_maximum_and_a_lift_ends_it() {
        let a = Destination::new("a.test");
        let mut lanes = Lanes::new(limits(10), STEPS);
        let x = QueueId::new();
        lanes.link(&a, 0, x);
        lanes.unreachable(&a, 1_000, "451 down".into());
        assert_eq!(lanes.pop(5_000), None);
        assert_eq!(lanes.next_wake(), Some(11_000));
        lanes.unreachable(&a, 11_000, "451 down".into());
        assert_eq!(lanes.next_wake(), Some(31_000), "20 s");
        lanes.unreachable(&a, 31_000, "451 down".into());
        assert_eq!(lanes.next_wake(), Some(56_000), "capped at 25 s");
        lanes.lift_backoff(None);
        assert_eq!(lanes.pop(31_000), Some((a.clone(), x)));
        lanes.reachable(&a);
        lanes.release(&a);
        assert!(lanes.lanes.is_empty(), "a healthy idle lane is forgotten");
    }

    #[test]
    fn a_suspended_lane_starts_nothing_until_its_end_or_a_resume() {
        let (a, b) = (Destination::new("a.test"), Destination::new("b.test"));
        let mut lanes = Lanes::new(limits(10), STEPS);
        let (x, y) = (QueueId::new(), QueueId::new());
        lanes.link(&a, 0, x);
        lanes.link(&b, 0, y);
        lanes.suspend(&a, None, "maintenance".into());
        lanes.suspend(&b, Some(9_000), String::new());
        assert_eq!(lanes.pop(5_000), None);
        assert_eq!(lanes.next_wake(), Some(9_000), "a waits for its resume");
        assert_eq!(
            lanes.lift_backoff(None),
            Vec::new(),
            "a flush does not resume"
        );
        assert_eq!(lanes.pop(9_000), Some((b.clone(), y)));
        assert!(lanes.resume(&a));
        assert!(!lanes.resume(&a));
        assert_eq!(lanes.pop(9_000), Some((a.clone(), x)));
    }

    #[test]
    fn lanes_take_turns_and_keep_their_own_order() {
        let (a, b) = (Destination::new("a.test"), Destination::new("b.test"));
        let mut lanes = Lanes::new(limits(10), STEPS);
        let ids: Vec<QueueId> = (0..4).map(|_| QueueId::new()).collect();
        lanes.link(&a, 1, ids[0]);
        lanes.link(&a, 2, ids[1]);
        lanes.link(&a, 3, ids[2]);
        lanes.link(&b, 9, ids[3]);
        assert_eq!(lanes.pop(10), Some((a.clone(), ids[0])));
        assert_eq!(lanes.pop(10), Some((b.clone(), ids[3])));
        assert_eq!(lanes.pop(10), Some((a.clone(), ids[1])));
        assert_eq!(lanes.pop(10), Some((a.clone(), ids[2])));
        assert_eq!(lanes.pop(10), None);
    }

    #[test]
    fn a_full_lane_starts_nothing_until_a_slot_is_released() {
        let a = Destination::new("a.test");
        let mut lanes = Lanes::new(limits(1), STEPS);
        let (x, y) = (QueueId::new(), QueueId::new());
        lanes.link(&a, 0, x);
        lanes.link(&a, 0, y);
        assert_eq!(lanes.pop(5), Some((a.clone(), x)));
        assert_eq!(lanes.pop(5), None);
        assert_eq!(lanes.next_wake(), None, "a full lane wakes on release");
        assert!(!lanes.try_acquire(&a, 5));
        lanes.release(&a);
        assert_eq!(lanes.next_wake(), Some(0));
        assert_eq!(lanes.pop(5), Some((a.clone(), y)));
        lanes.release(&a);
        assert_eq!(lanes.in_flight(&a), 0);
        assert!(lanes.lanes.is_empty(), "idle lanes are forgotten");
    }
}
