//! Deliveries, deferrals and bounces over the last hour, from per-minute samples of the
//! queue's cumulative counters ([`envoi_queue::Queue::destination_counters`], whose sum only
//! grows). The server samples once a minute; the overview samples too when it renders.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use envoi_queue::Queue;

/// Minutes the overview looks back.
pub(crate) const MINUTES: u64 = 60;

/// Cumulative recipient counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Recipients delivered.
    pub delivered: u64,
    /// Recipient attempts that failed transiently.
    pub deferred: u64,
    /// Recipients failed for good.
    pub bounced: u64,
}

impl Totals {
    /// The queue's counters now, summed over every destination.
    pub fn of(queue: &Queue) -> Self {
        let counters = queue.destination_counters();
        let mut sum = counters.others;
        for (_, counts) in &counters.destinations {
            sum.add(counts);
        }
        Self {
            delivered: sum.delivered,
            deferred: sum.deferred,
            bounced: sum.bounced,
        }
    }

    fn since(self, earlier: Self) -> Self {
        Self {
            delivered: self.delivered.saturating_sub(earlier.delivered),
            deferred: self.deferred.saturating_sub(earlier.deferred),
            bounced: self.bounced.saturating_sub(earlier.bounced),
        }
    }
}

/// The first sample of each of the last [`MINUTES`] minutes.
#[derive(Default)]
pub(crate) struct Rolling {
    samples: Mutex<VecDeque<(u64, Totals)>>,
}

impl Rolling {
    /// Records `totals` as seen at `minute` (minutes since the epoch) unless this minute has
    /// a sample already; drops samples older than the window.
    pub fn record(&self, minute: u64, totals: Totals) {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples.back().is_none_or(|(last, _)| *last < minute) {
            samples.push_back((minute, totals));
        }
        while samples
            .front()
            .is_some_and(|(first, _)| first.saturating_add(MINUTES) < minute)
        {
            samples.pop_front();
        }
    }

    /// What happened between the oldest sample of the window and `totals` at `minute`, and
    /// how many minutes that covers (less than [`MINUTES`] shortly after start).
    pub fn window(&self, minute: u64, totals: Totals) -> (Totals, u64) {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let start = minute.saturating_sub(MINUTES);
        match samples.iter().find(|(at, _)| *at >= start) {
            Some((at, base)) => (totals.since(*base), minute.saturating_sub(*at)),
            None => (Totals::default(), 0),
        }
    }

    /// Records the queue's counters now.
    pub fn sample(&self, queue: &Queue) -> (u64, Totals) {
        let minute = minute_of(queue.clock().now());
        let totals = Totals::of(queue);
        self.record(minute, totals);
        (minute, totals)
    }
}

/// Minutes since the epoch.
pub(crate) fn minute_of(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(delivered: u64) -> Totals {
        Totals {
            delivered,
            deferred: delivered / 2,
            bounced: 1,
        }
    }

    #[test]
    fn counts_over_the_last_hour_only() {
        let rolling = Rolling::default();
        rolling.record(100, totals(10));
        rolling.record(100, totals(12));
        rolling.record(130, totals(20));
        let (seen, minutes) = rolling.window(140, totals(30));
        assert_eq!(
            (seen.delivered, seen.deferred, seen.bounced, minutes),
            (20, 10, 0, 40)
        );
        rolling.record(170, totals(40));
        // The sample of minute 100 fell out of the window: the baseline is minute 130's.
        let (seen, minutes) = rolling.window(170, totals(40));
        assert_eq!((seen.delivered, minutes), (20, 40));
    }
}
