//! Per-destination counters: recipients delivered, deferred and bounced, and attempts that
//! could not connect, since the queue started.
//!
//! Memory is bounded: at most [`TRACKED`] destinations have counters of their own. When a
//! further destination needs one, the tracked destination with the smallest total is folded
//! into [`DestinationCounters::others`] and forgotten. So the sum over every destination plus
//! the others only grows, whatever the number of destinations.

use std::collections::HashMap;

use crate::destination::Destination;
use crate::events::Fate;

/// Destinations with counters of their own at most.
pub const TRACKED: usize = 1000;

/// One destination's counters (or the sum of several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationCounts {
    /// Recipients delivered.
    pub delivered: u64,
    /// Recipient attempts that failed transiently.
    pub deferred: u64,
    /// Recipients failed for good (expiry included).
    pub bounced: u64,
    /// Attempts that could not connect to any host of the destination.
    pub connection_failures: u64,
}

impl DestinationCounts {
    /// The sum of every counter.
    pub fn total(&self) -> u64 {
        self.delivered
            .saturating_add(self.deferred)
            .saturating_add(self.bounced)
            .saturating_add(self.connection_failures)
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Self) {
        self.delivered = self.delivered.saturating_add(other.delivered);
        self.deferred = self.deferred.saturating_add(other.deferred);
        self.bounced = self.bounced.saturating_add(other.bounced);
        self.connection_failures = self
            .connection_failures
            .saturating_add(other.connection_failures);
    }
}

/// The counters of every tracked destination, and the sum of those no longer tracked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationCounters {
    /// Tracked destinations, by name.
    pub destinations: Vec<(Destination, DestinationCounts)>,
    /// Destinations folded away to keep memory bounded.
    pub others: DestinationCounts,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    tracked: HashMap<Destination, DestinationCounts>,
    others: DestinationCounts,
}

impl Tallies {
    /// One recipient's fate at `dest`.
    pub fn fate(&mut self, dest: &Destination, fate: Fate) {
        let counts = self.entry(dest);
        let counter = match fate {
            Fate::Delivered => &mut counts.delivered,
            Fate::Deferred => &mut counts.deferred,
            Fate::Bounced => &mut counts.bounced,
        };
        *counter = counter.saturating_add(1);
    }

    /// An attempt to `dest` that could not connect.
    pub fn connection_failure(&mut self, dest: &Destination) {
        let counts = self.entry(dest);
        counts.connection_failures = counts.connection_failures.saturating_add(1);
    }

    /// A copy, sorted by name.
    pub fn snapshot(&self) -> DestinationCounters {
        let mut destinations: Vec<_> = self
            .tracked
            .iter()
            .map(|(dest, counts)| (dest.clone(), *counts))
            .collect();
        destinations.sort_by(|a, b| a.0.cmp(&b.0));
        DestinationCounters {
            destinations,
            others: self.others,
        }
    }

    fn entry(&mut self, dest: &Destination) -> &mut DestinationCounts {
        if !self.tracked.contains_key(dest) && self.tracked.len() >= TRACKED {
            self.fold_smallest();
        }
        self.tracked.entry(dest.clone()).or_default()
    }

    /// Folds the tracked destination with the smallest total into the others.
    fn fold_smallest(&mut self) {
        let smallest = self
            .tracked
            .iter()
            .min_by_key(|(dest, counts)| (counts.total(), (*dest).clone()))
            .map(|(dest, _)| dest.clone());
        if let Some(counts) = smallest.and_then(|dest| self.tracked.remove(&dest)) {
            self.others.add(&counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_stay_bounded_and_their_sum_is_kept() {
        let mut tallies = Tallies::default();
        let busy = Destination::new("busy.test");
        for _ in 0..3 {
            tallies.fate(&busy, Fate::Delivered);
        }
        tallies.connection_failure(&busy);
        for n in 0..TRACKED + 5 {
            let dest = Destination::new(&format!("d{n}.test"));
            tallies.fate(&dest, Fate::Bounced);
        }
        let snapshot = tallies.snapshot();
        assert_eq!(snapshot.destinations.len(), TRACKED);
        let busy_counts = snapshot
            .destinations
            .iter()
            .find(|(d, _)| *d == busy)
            .map(|(_, c)| *c)
            .unwrap_or_default();
        assert_eq!(
            (busy_counts.delivered, busy_counts.connection_failures),
            (3, 1)
        );
        let mut sum = snapshot.others;
        for (_, counts) in &snapshot.destinations {
            sum.add(counts);
        }
        assert_eq!(sum.bounced, (TRACKED + 5) as u64);
        assert_eq!(snapshot.others.bounced, 6);
    }
}
