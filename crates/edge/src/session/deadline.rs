//! Deadlines for a request as a whole, not for each read (Postfix's
//! `smtpd_per_request_deadline`): plain arithmetic on instants, so the rules are unit-tested
//! without a socket.
//!
//! - A command line: the wait for its first octet, then the line from that octet to its CRLF,
//!   are each bounded by the command timeout ([`CommandDeadline`]).
//! - A DATA section or BDAT chunk: a budget that starts at the data timeout, is spent by
//!   waiting, and is earned back by octets at the minimum data rate, never above the data
//!   timeout ([`TransferDeadline`], Postfix's `smtpd_min_data_rate`).
//! - A session: a fixed end from the moment it started ([`later`] of the start and the limit).

use std::time::Duration;

use tokio::time::Instant;

/// Far enough to mean "never" for a session, and still an `Instant` (no overflow).
const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `start + wait`, or a time far beyond any session when that overflows.
pub(crate) fn later(start: Instant, wait: Duration) -> Instant {
    start
        .checked_add(wait)
        .or_else(|| start.checked_add(NEVER))
        .unwrap_or(start)
}

/// The deadline of one command line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommandDeadline {
    at: Instant,
    timeout: Duration,
    started: bool,
}

impl CommandDeadline {
    /// Waiting for a command from `now`; `started` when part of its line is already buffered.
    pub(crate) fn new(now: Instant, timeout: Duration, started: bool) -> Self {
        Self {
            at: later(now, timeout),
            timeout,
            started,
        }
    }

    /// When the wait (or the line) must be over.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }

    /// Octets of the line arrived at `now`: the first ones start the line's own deadline.
    pub(crate) fn received(&mut self, now: Instant) {
        if !self.started {
            self.started = true;
            self.at = later(now, self.timeout);
        }
    }
}

/// The deadline of one DATA section or BDAT chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TransferDeadline {
    at: Instant,
    limit: Duration,
    min_rate: u64,
}

impl TransferDeadline {
    /// A transfer starting at `now` with a full budget of `limit`, earning back one second per
    /// `min_rate` octets (none when `min_rate` is 0).
    pub(crate) fn new(now: Instant, limit: Duration, min_rate: u64) -> Self {
        Self {
            at: later(now, limit),
            limit,
            min_rate,
        }
    }

    /// When the transfer must have made progress by.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }

    /// `octets` arrived at `now`: their credit moves the deadline, never past `now + limit`.
    pub(crate) fn received(&mut self, octets: usize, now: Instant) {
        if self.min_rate == 0 {
            return;
        }
        let nanos = (octets as u128).saturating_mul(1_000_000_000) / u128::from(self.min_rate);
        let credit = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        let cap = later(now, self.limit);
        self.at = self.at.checked_add(credit).map_or(cap, |at| at.min(cap));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn a_command_line_gets_its_own_deadline_from_its_first_octet() {
        let t0 = Instant::now();
        let mut d = CommandDeadline::new(t0, 3 * SEC, false);
        assert_eq!(d.at(), t0 + 3 * SEC);
        d.received(t0 + 2 * SEC);
        assert_eq!(
            d.at(),
            t0 + 5 * SEC,
            "the first octet starts the line's deadline"
        );
        d.received(t0 + 4 * SEC);
        assert_eq!(d.at(), t0 + 5 * SEC, "later octets never move it");
        let d = CommandDeadline::new(t0, 3 * SEC, true);
        let mut moved = d;
        moved.received(t0 + SEC);
        assert_eq!(
            moved.at(),
            d.at(),
            "a line already begun keeps its deadline"
        );
    }

    #[test]
    fn a_transfer_above_the_minimum_rate_never_runs_out() {
        let t0 = Instant::now();
        let mut d = TransferDeadline::new(t0, 10 * SEC, 500);
        // 1000 octets a second for a minute: twice the minimum rate.
        for second in 1..=60 {
            let now = t0 + second * SEC;
            assert!(now < d.at());
            d.received(1000, now);
        }
        assert_eq!(d.at(), t0 + 70 * SEC, "capped at the full budget");
    }

    #[test]
    fn a_trickle_runs_out_of_budget() {
        let t0 = Instant::now();
        let mut d = TransferDeadline::new(t0, 10 * SEC, 500);
        // One octet a second earns 2 ms a second: the budget lasts about 10 s.
        let mut second = 0;
        while t0 + second * SEC < d.at() {
            second += 1;
            d.received(1, t0 + second * SEC);
        }
        assert_eq!(second, 11);
    }

    #[test]
    fn rate_zero_is_a_deadline_for_the_whole_transfer() {
        let t0 = Instant::now();
        let mut d = TransferDeadline::new(t0, 10 * SEC, 0);
        d.received(usize::MAX, t0 + SEC);
        assert_eq!(d.at(), t0 + 10 * SEC);
    }

    #[test]
    fn huge_waits_do_not_overflow() {
        let t0 = Instant::now();
        assert!(later(t0, Duration::MAX) > t0 + NEVER / 2);
        let mut d = TransferDeadline::new(t0, Duration::MAX, 1);
        d.received(usize::MAX, t0);
        assert!(d.at() > t0);
    }
}
