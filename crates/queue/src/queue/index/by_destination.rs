//! Per destination, how many unheld entries it has and when the oldest arrived, kept as entries
//! come, go, change their held flag or learn their destination, so that the destination view
//! reads one small record per destination rather than every entry under the queue's lock.

use std::collections::{BTreeMap, HashMap};

use super::{Entry, Index};
use crate::destination::Destination;

/// One destination's unheld entries: how many, and how many arrived in each second, so that
/// the oldest arrival survives the removal of any one of them. Seconds, not milliseconds: a
/// busy destination then keeps one key per second of arrivals, not one per message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Tally {
    queued: usize,
    arrivals: BTreeMap<u64, u32>,
}

/// Every destination's [`Tally`]; a destination with no entry left has none.
pub(super) type Tallies = HashMap<Destination, Tally>;

impl Index {
    /// Per destination with unheld entries: their count and the oldest arrival (ms, to the
    /// second below).
    pub(super) fn destination_tallies(&self) -> HashMap<Destination, (usize, u64)> {
        self.by_destination
            .iter()
            .filter_map(|(dest, tally)| Some((dest.clone(), tally.view()?)))
            .collect()
    }

    /// Counts `entry` under its destination, unless held.
    pub(super) fn tally(&mut self, entry: &Entry) {
        if entry.held {
            return;
        }
        let arrival = self.arrival(entry);
        add(&mut self.by_destination, entry, arrival);
    }

    /// Stops counting `entry` under its destination.
    pub(super) fn untally(&mut self, entry: &Entry) {
        if entry.held {
            return;
        }
        let arrival = self.arrival(entry);
        let Some(tally) = self.by_destination.get_mut(&entry.dest) else {
            return;
        };
        tally.queued = tally.queued.saturating_sub(1);
        if let Some(at) = tally.arrivals.get_mut(&arrival) {
            *at = at.saturating_sub(1);
            if *at == 0 {
                tally.arrivals.remove(&arrival);
            }
        }
        if tally.queued == 0 {
            self.by_destination.remove(&entry.dest);
        }
    }

    /// The tallies recomputed from every entry: what the kept ones must equal.
    #[cfg(test)]
    pub fn retally(&self) -> HashMap<Destination, (usize, u64)> {
        let mut fresh = Tallies::new();
        for entry in self.entries.values().filter(|e| !e.held) {
            add(&mut fresh, entry, self.arrival(entry));
        }
        fresh
            .into_iter()
            .filter_map(|(dest, tally)| Some((dest, tally.view()?)))
            .collect()
    }

    /// The second `entry` arrived in.
    fn arrival(&self, entry: &Entry) -> u64 {
        entry.expiry.saturating_sub(self.lifetime_ms) / 1000
    }
}

impl Tally {
    /// The count and the oldest arrival in ms; `None` when empty.
    fn view(&self) -> Option<(usize, u64)> {
        let oldest = self.arrivals.keys().next()?;
        Some((self.queued, oldest.saturating_mul(1000)))
    }
}

fn add(tallies: &mut Tallies, entry: &Entry, arrival: u64) {
    let tally = tallies.entry(entry.dest.clone()).or_default();
    tally.queued += 1;
    *tally.arrivals.entry(arrival).or_insert(0) += 1;
}
