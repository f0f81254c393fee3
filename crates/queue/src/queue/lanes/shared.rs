//! The lanes' side of the destinations' state shared by the nodes of a shared store: back-offs
//! recorded here or adopted from other nodes, and suspensions made to match the store's.
//!
//! A sync reads the store, then applies what it read. Each sync has an epoch
//! ([`Lanes::begin_sync`]); a lane changed here after the sync began (suspended, resumed,
//! flushed, its back-off recorded) is left alone by that sync, which read the store before the
//! change reached it. The next sync reads the change back.

use std::collections::HashSet;

use super::Lanes;
use crate::destination::Destination;

impl Lanes {
    /// The back-off of `dest`: until (ms), consecutive failures and the last error.
    pub fn backoff_of(&self, dest: &Destination) -> Option<(u64, u32, String)> {
        let lane = self.lanes.get(dest)?;
        let until = lane.backed_off_until?;
        Some((
            until,
            lane.failures,
            lane.last_error.clone().unwrap_or_default(),
        ))
    }

    /// The back-off of `dest` ending at `until` (ms) is now in the shared store.
    pub fn mark_shared(&mut self, dest: &Destination, until: u64) {
        if let Some(lane) = self.lanes.get_mut(dest) {
            if lane.backed_off_until == Some(until) {
                lane.backoff_shared = true;
                lane.touched = self.epoch;
            }
        }
    }

    /// Starts a sync with a shared store, before reading it: returns its epoch. Changes made
    /// here from now on are left alone by that sync's `adopt_backoff`, `end_cleared_backoffs`
    /// and `sync_suspension`.
    pub fn begin_sync(&mut self) -> u64 {
        self.epoch = self.epoch.saturating_add(1);
        self.epoch
    }

    /// True when the lane of `dest` changed here since the sync of `epoch` began.
    fn changed_since(&self, dest: &Destination, epoch: u64) -> bool {
        self.lanes
            .get(dest)
            .is_some_and(|lane| lane.touched >= epoch)
    }

    /// Another node backed `dest` off until `until` (ms), as read by the sync of `epoch`: so
    /// does this one, unless its own back-off ends later.
    pub fn adopt_backoff(
        &mut self,
        epoch: u64,
        dest: &Destination,
        (until, failures, error): (u64, u32, String),
    ) {
        if dest.is_unsorted() || self.changed_since(dest, epoch) {
            return;
        }
        let lane = self.lanes.entry(dest.clone()).or_default();
        if lane.backed_off_until.is_none_or(|own| own < until) {
            lane.backed_off_until = Some(until);
            lane.failures = lane.failures.max(failures);
            lane.last_error = Some(error);
        }
        lane.backoff_shared = true;
    }

    /// Ends the shared back-offs the store no longer has (`kept` are those the sync of `epoch`
    /// read): another node reached the destination, or an administrator flushed. Returns how
    /// many ended.
    pub fn end_cleared_backoffs(&mut self, epoch: u64, kept: &HashSet<Destination>) -> usize {
        let mut ended = Vec::new();
        for (name, lane) in &mut self.lanes {
            let shared = lane.backoff_shared && lane.backed_off_until.is_some();
            if shared && lane.touched < epoch && !kept.contains(name) {
                lane.backed_off_until = None;
                lane.backoff_shared = false;
                lane.failures = 0;
                lane.last_error = None;
                ended.push(name.clone());
            }
        }
        for name in &ended {
            self.forget_if_idle(name);
        }
        ended.len()
    }

    /// Makes the suspensions match those the sync of `epoch` read from the store (`stored`:
    /// destination, end in ms, reason), except on lanes changed here since; true when one
    /// began or ended.
    pub fn sync_suspensions(
        &mut self,
        epoch: u64,
        stored: &[(Destination, Option<u64>, String)],
    ) -> bool {
        let mut changed = false;
        for (dest, until, reason) in stored {
            let current = self.lanes.get(dest).and_then(|l| l.suspension.as_ref());
            let same = current.is_some_and(|(u, r)| u == until && r == reason);
            if !same && !self.changed_since(dest, epoch) {
                let lane = self.lanes.entry(dest.clone()).or_default();
                lane.suspension = Some((*until, reason.clone()));
                changed = true;
            }
        }
        let gone: Vec<Destination> = self
            .lanes
            .iter()
            .filter(|(dest, lane)| {
                lane.suspension.is_some()
                    && lane.touched < epoch
                    && !stored.iter().any(|(d, _, _)| d == *dest)
            })
            .map(|(dest, _)| dest.clone())
            .collect();
        for dest in &gone {
            if let Some(lane) = self.lanes.get_mut(dest) {
                lane.suspension = None;
            }
            self.forget_if_idle(dest);
        }
        changed || !gone.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use envoi_types::QueueId;

    use super::super::{BackoffSteps, Limits};
    use super::*;

    fn lanes() -> Lanes {
        let steps = BackoffSteps {
            base: Duration::from_secs(10),
            max: Duration::from_secs(10),
        };
        Lanes::new(Limits::new(10, None, &Default::default()), steps)
    }

    fn stopped(lanes: &Lanes, dest: &Destination, now: u64) -> bool {
        lanes
            .lanes
            .get(dest)
            .is_some_and(|lane| lane.is_stopped(now))
    }

    #[test]
    fn adopted_and_recorded_backoffs_end_when_the_store_drops_them_and_others_stay() {
        let (a, b, c) = (
            Destination::new("a.test"),
            Destination::new("b.test"),
            Destination::new("c.test"),
        );
        let mut lanes = lanes();
        lanes.unreachable(&b, 0, "down".into());
        lanes.mark_shared(&b, 10_000);
        lanes.unreachable(&c, 0, "down".into());
        let epoch = lanes.begin_sync();
        lanes.adopt_backoff(epoch, &a, (50_000, 3, "421 elsewhere".into()));
        assert_eq!(
            lanes.backoff_of(&a),
            Some((50_000, 3, "421 elsewhere".into()))
        );

        let epoch = lanes.begin_sync();
        assert_eq!(lanes.end_cleared_backoffs(epoch, &HashSet::new()), 2);
        assert!(!stopped(&lanes, &a, 1_000) && !stopped(&lanes, &b, 1_000));
        assert!(
            stopped(&lanes, &c, 1_000),
            "a back-off not yet recorded was ended"
        );
    }

    #[test]
    fn a_sync_leaves_alone_what_changed_here_while_it_read_the_store() {
        let a = Destination::new("a.test");
        let mut lanes = lanes();
        lanes.link(&a, 0, QueueId::new());
        let stored = vec![(a.clone(), None, "maintenance".to_owned())];
        let epoch = lanes.begin_sync();
        assert!(lanes.sync_suspensions(epoch, &stored));
        assert!(stopped(&lanes, &a, 0));
        // A resume here after the next sync read the store (which still had it).
        let epoch = lanes.begin_sync();
        assert!(lanes.resume(&a));
        assert!(!lanes.sync_suspensions(epoch, &stored));
        assert!(!stopped(&lanes, &a, 0), "the sync undid the resume");
        // A suspension here after a sync read an empty store.
        let epoch = lanes.begin_sync();
        lanes.suspend(&a, None, "here".into());
        assert!(!lanes.sync_suspensions(epoch, &[]));
        assert!(stopped(&lanes, &a, 0), "the sync undid the suspension");
        // The next sync reads the store as it now is.
        let epoch = lanes.begin_sync();
        assert!(lanes.sync_suspensions(epoch, &[]));
        assert!(!stopped(&lanes, &a, 0));
    }
}
