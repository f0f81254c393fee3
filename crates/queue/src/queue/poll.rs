//! When the scheduler asks a shared store for work other nodes made due
//! ([`crate::Storage::poll_due`]): soon after a poll found work (more may follow), less and
//! less often while polls find none, within fixed bounds; and at once when the store passes on
//! another node's notice of work due at a given time ([`crate::Storage::due_notice`]).

use std::time::Duration;

use tokio::time::Instant;

/// The bounds of the interval between polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PollBounds {
    /// After a poll that found work.
    pub min: Duration,
    /// The longest wait while polls find nothing.
    pub max: Duration,
}

impl Default for PollBounds {
    /// A quarter of a second after work, five seconds when idle: an idle node costs one
    /// indexed query every five seconds, and notices bring it in earlier.
    fn default() -> Self {
        Self {
            min: Duration::from_millis(250),
            max: Duration::from_secs(5),
        }
    }
}

/// The next poll and the interval grown so far.
#[derive(Debug)]
pub(super) struct Poller {
    bounds: PollBounds,
    interval: Duration,
    next: Instant,
}

impl Poller {
    /// Polls at once, then backs off from the shortest interval.
    pub fn new(bounds: PollBounds, now: Instant) -> Self {
        let min = bounds.min.min(bounds.max);
        Self {
            bounds: PollBounds { min, ..bounds },
            interval: min,
            next: now,
        }
    }

    /// When the next poll is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// True when a poll is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Records a poll at `now` that brought in `found` new entries: the next is soon when it
    /// found some, else twice as far off as the last, up to the bound.
    pub fn polled(&mut self, found: usize, now: Instant) {
        self.interval = if found > 0 {
            self.bounds.min
        } else {
            self.interval.saturating_mul(2).min(self.bounds.max)
        };
        self.next = now + self.interval;
    }

    /// Another node said work is due at `at`: poll then (or at once if it is past), and from
    /// there back off from the shortest interval again.
    pub fn notice(&mut self, at: Instant) {
        self.next = self.next.min(at);
        self.interval = self.bounds.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> PollBounds {
        PollBounds {
            min: Duration::from_millis(100),
            max: Duration::from_millis(800),
        }
    }

    #[test]
    fn backs_off_while_idle_up_to_the_bound_and_comes_back_after_work() {
        let start = Instant::now();
        let mut poller = Poller::new(bounds(), start);
        assert!(poller.is_due(start));
        let mut gaps = Vec::new();
        let mut now = start;
        for _ in 0..5 {
            poller.polled(0, now);
            gaps.push(poller.next() - now);
            now = poller.next();
        }
        let ms: Vec<u128> = gaps.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![200, 400, 800, 800, 800]);
        poller.polled(3, now);
        assert_eq!(poller.next() - now, Duration::from_millis(100));
    }

    #[test]
    fn a_notice_brings_the_next_poll_forward_never_back() {
        let start = Instant::now();
        let mut poller = Poller::new(bounds(), start);
        poller.polled(0, start);
        poller.polled(0, start);
        assert_eq!(poller.next() - start, Duration::from_millis(400));
        poller.notice(start + Duration::from_millis(50));
        assert_eq!(poller.next() - start, Duration::from_millis(50));
        poller.notice(start + Duration::from_secs(60));
        assert_eq!(poller.next() - start, Duration::from_millis(50));
        poller.polled(0, start + Duration::from_millis(50));
        assert_eq!(
            poller.next() - start,
            Duration::from_millis(250),
            "backs off from min again"
        );
    }
}
