//! Per destination, how many unheld entries it has and when the oldest arrived, kept as entries
//! come, go, change their held flag or learn their destination, so that the destination view
//! reads one small record per destination rather than every entry under the queue's lock.

use std::collections::{BTreeMap, HashMap};

use super::{Entry, Index};
use crate::destination::Destination;

/// One destination's unheld entries: how many, and per second of arrival how many arrived in
/// it and the earliest arrival (ms) among them, so that the oldest arrival survives the
/// removal of any one of them. Keyed by second, not millisecond: a busy destination keeps one
/// key per second of arrivals, not one per message. The earliest of a second is not raised
/// when that entry leaves while others of its second stay: the oldest arrival shown can then
/// be early by less than a second.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Tally {
    queued: usize,
    arrivals: BTreeMap<u64, Second>,
}

/// The entries that arrived in one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Second {
    count: u32,
    earliest_ms: u64,
}

/// Every destination's [`Tally`]; a destination with no entry left has none.
pub(super) type Tallies = HashMap<Destination, Tally>;

impl Index {
    /// Per destination with unheld entries: their count and the oldest arrival (ms).
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
        let arrival = self.arrival_ms(entry);
        add(&mut self.by_destination, entry, arrival);
    }

    /// Stops counting `entry` under its destination.
    pub(super) fn untally(&mut self, entry: &Entry) {
        if entry.held {
            return;
        }
        let second = self.arrival_ms(entry) / 1000;
        let Some(tally) = self.by_destination.get_mut(&entry.dest) else {
            return;
        };
        tally.queued = tally.queued.saturating_sub(1);
        if let Some(at) = tally.arrivals.get_mut(&second) {
            at.count = at.count.saturating_sub(1);
            if at.count == 0 {
                tally.arrivals.remove(&second);
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
            add(&mut fresh, entry, self.arrival_ms(entry));
        }
        fresh
            .into_iter()
            .filter_map(|(dest, tally)| Some((dest, tally.view()?)))
            .collect()
    }

    /// When `entry` arrived (ms).
    fn arrival_ms(&self, entry: &Entry) -> u64 {
        entry.expiry.saturating_sub(self.lifetime_ms)
    }
}

impl Tally {
    /// The count and the oldest arrival (ms); `None` when empty.
    fn view(&self) -> Option<(usize, u64)> {
        let (_, oldest) = self.arrivals.first_key_value()?;
        Some((self.queued, oldest.earliest_ms))
    }
}

fn add(tallies: &mut Tallies, entry: &Entry, arrival_ms: u64) {
    let tally = tallies.entry(entry.dest.clone()).or_default();
    tally.queued += 1;
    let second = tally.arrivals.entry(arrival_ms / 1000).or_insert(Second {
        count: 0,
        earliest_ms: arrival_ms,
    });
    second.count += 1;
    second.earliest_ms = second.earliest_ms.min(arrival_ms);
}
