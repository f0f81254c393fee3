//! The retry policy: the backoff's delays, bounded by the queue's maximum lifetime.
//!
//! This is the one place expiry is decided. A message expires at `arrival + lifetime`
//! (`4.4.7`, see [`RetryPolicy::expired_reply`]); after a transient failure it is retried
//! after the backoff's delay unless the backoff gives up or that retry would fall after its
//! expiry (then its pending recipients fail "(Too many retries)"). Times are the queue's
//! [`crate::Clock`], never the wall clock, so paused-time tests see days pass. A backoff that
//! panics is a transient failure like any other: the message is retried after
//! [`FALLBACK_RETRY`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use envoi_types::{EnhancedCode, Envelope, Reply};

use crate::backoff::Backoff;

/// The delay used when no other can be had: the backoff panicked, or a bounce could not be
/// built or stored.
pub(super) const FALLBACK_RETRY: Duration = Duration::from_secs(5 * 60);

/// The backoff and the maximum lifetime, judged together.
pub(super) struct RetryPolicy {
    backoff: Arc<dyn Backoff>,
    lifetime: Duration,
}

impl RetryPolicy {
    /// Retries on `backoff`'s delays for at most `lifetime` after arrival.
    pub fn new(backoff: Arc<dyn Backoff>, lifetime: Duration) -> Self {
        Self { backoff, lifetime }
    }

    /// The maximum time a message stays queued.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// True when a message that arrived at `arrival` has outlived the lifetime at `now`.
    pub fn is_expired(&self, arrival: SystemTime, now: SystemTime) -> bool {
        // A lifetime past what SystemTime can hold never ends.
        arrival
            .checked_add(self.lifetime)
            .is_some_and(|expiry| now >= expiry)
    }

    /// When to attempt `envelope` again after its `attempts`-th failure at `now`, or `None`
    /// to give up: the backoff gave up, or the next attempt would be later than the lifetime
    /// allows.
    pub fn next_attempt(
        &self,
        envelope: &Envelope,
        attempts: u32,
        now: SystemTime,
    ) -> Option<SystemTime> {
        let delay = catch_unwind(AssertUnwindSafe(|| self.backoff.delay(envelope, attempts)))
            .unwrap_or_else(|_| {
                tracing::error!(
                    attempts,
                    "the backoff panicked; retrying after the fallback delay"
                );
                Some(FALLBACK_RETRY)
            })?;
        let age = now.duration_since(envelope.arrival).unwrap_or_default();
        let within = age.checked_add(delay).is_some_and(|t| t <= self.lifetime);
        within.then(|| now.checked_add(delay)).flatten()
    }

    /// The failure given to every pending recipient of an expired message.
    pub fn expired_reply(&self) -> Reply {
        let days = self.lifetime.as_secs_f64() / 86_400.0;
        Reply::new(
            450,
            EnhancedCode::new(4, 4, 7),
            &format!("Message expired: not delivered within {days:.1} days"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::Schedule;
    use envoi_types::Sender;

    fn arrived_at(arrival: SystemTime) -> Envelope {
        let mut envelope = Envelope::new(Sender::Null, vec![], Vec::new());
        envelope.arrival = arrival;
        envelope
    }

    fn policy(delays: &[u64], lifetime: u64) -> RetryPolicy {
        let delays = delays.iter().copied().map(Duration::from_secs).collect();
        let schedule = Schedule { delays };
        RetryPolicy::new(Arc::new(schedule), Duration::from_secs(lifetime))
    }

    #[test]
    fn gives_up_when_the_next_attempt_would_outlive_the_lifetime() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |s: u64| t0 + Duration::from_secs(s);
        let retry = policy(&[300, 600], 3600);
        let envelope = arrived_at(t0);
        assert_eq!(retry.next_attempt(&envelope, 1, at(0)), Some(at(300)));
        assert_eq!(retry.next_attempt(&envelope, 7, at(100)), Some(at(700)));
        // Exactly at the lifetime is still allowed; a second later is not.
        assert_eq!(retry.next_attempt(&envelope, 2, at(3000)), Some(at(3600)));
        assert_eq!(retry.next_attempt(&envelope, 2, at(3001)), None);
        assert!(!retry.is_expired(t0, at(3599)));
        assert!(retry.is_expired(t0, at(3600)));
    }

    #[test]
    fn the_backoff_may_give_up_first_and_huge_times_do_not_overflow() {
        let t0 = SystemTime::UNIX_EPOCH;
        let never = |_: &Envelope, _: u32| None;
        let retry = RetryPolicy::new(Arc::new(never), Duration::from_secs(3600));
        assert_eq!(retry.next_attempt(&arrived_at(t0), 1, t0), None);
        let forever = RetryPolicy::new(
            Arc::new(|_: &Envelope, _: u32| Some(Duration::MAX)),
            Duration::MAX,
        );
        assert_eq!(forever.next_attempt(&arrived_at(t0), 1, t0), None);
        assert!(!forever.is_expired(t0, t0 + Duration::from_secs(1 << 40)));
    }

    #[test]
    fn a_panicking_backoff_gives_the_fallback_delay() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        #[allow(clippy::panic)]
        let panics = |_: &Envelope, _: u32| -> Option<Duration> { panic!("user bug") };
        let retry = RetryPolicy::new(Arc::new(panics), Duration::from_secs(3600));
        assert_eq!(
            retry.next_attempt(&arrived_at(t0), 1, t0),
            Some(t0 + FALLBACK_RETRY)
        );
    }

    #[test]
    fn expired_reply_names_the_lifetime_in_days() {
        let reply = policy(&[60], 5 * 86_400).expired_reply();
        assert_eq!(
            reply.to_string(),
            "450 4.4.7 Message expired: not delivered within 5.0 days"
        );
    }
}
