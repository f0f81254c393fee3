//! The per-destination view for administrators and metrics.

use std::collections::BTreeMap;

use super::{DestinationCounters, Queue};
use crate::clock::from_millis;
use crate::destination::{Destination, DestinationStatus};
use crate::storage::Suspension;

impl Queue {
    /// Every destination with queued mail, attempts in flight, a connection failure or a
    /// suspension, by name. Messages not sorted yet (loaded at start, until their first
    /// claim) are not counted under any destination.
    pub fn destinations(&self) -> Vec<DestinationStatus> {
        let now = self.shared.clock.now();
        let (lanes, queued) = self.shared.index().destinations(now);
        let mut out: BTreeMap<Destination, DestinationStatus> = BTreeMap::new();
        for (dest, (count, oldest)) in queued {
            if dest.is_unsorted() {
                continue;
            }
            let mut status = empty(&dest);
            status.queued = count;
            status.oldest_arrival = Some(from_millis(oldest));
            out.insert(dest, status);
        }
        for lane in lanes {
            let status = out
                .entry(lane.dest.clone())
                .or_insert_with(|| empty(&lane.dest));
            status.in_flight = lane.in_flight;
            status.connection_failures = lane.failures;
            status.last_error = lane.last_error;
            status.backed_off_until = lane.backed_off_until.map(from_millis);
            status.suspension = lane.suspension.map(|(until, reason)| Suspension {
                destination: lane.dest.as_str().to_owned(),
                until: until.map(from_millis),
                reason,
            });
        }
        out.into_values().collect()
    }
}

impl Queue {
    /// Per-destination counters since the queue started: recipients delivered, deferred and
    /// bounced, and attempts that could not connect (memory bounded: see
    /// [`DestinationCounters::others`]). A recipient counts under its own destination.
    pub fn destination_counters(&self) -> DestinationCounters {
        self.shared.tallies().snapshot()
    }
}

fn empty(dest: &Destination) -> DestinationStatus {
    DestinationStatus {
        destination: dest.clone(),
        queued: 0,
        in_flight: 0,
        oldest_arrival: None,
        connection_failures: 0,
        last_error: None,
        backed_off_until: None,
        suspension: None,
    }
}
