//! Retry schedules: how long to wait after the n-th transient failure, or when to give up.
//!
//! A backoff gives delays only. The maximum lifetime belongs to the queue
//! ([`crate::QueueBuilder::max_lifetime`]), which judges it on its own clock for every backoff.

use std::time::Duration;

use envoi_types::Envelope;

/// Decides when to retry after a transient failure.
///
/// `attempts` counts failed scheduled attempts so far, this one included (1 after the first
/// failure). An attempt forced early by [`crate::Queue::flush`] or [`crate::Queue::retry`] that
/// fails is not counted and does not ask the backoff: the next scheduled attempt stays as it was.
/// A backoff that panics counts as a transient failure: the queue retries five minutes later.
/// `None` means "no more": the queue fails the remaining recipients permanently and the bounce
/// says "(Too many retries)". The queue gives up the same way, whatever the backoff says, when
/// the next attempt would fall after the message's arrival plus the queue's maximum lifetime.
pub trait Backoff: Send + Sync + 'static {
    /// The delay before the next attempt, or `None` to give up.
    fn delay(&self, envelope: &Envelope, attempts: u32) -> Option<Duration>;
}

impl<F> Backoff for F
where
    F: Fn(&Envelope, u32) -> Option<Duration> + Send + Sync + 'static,
{
    fn delay(&self, envelope: &Envelope, attempts: u32) -> Option<Duration> {
        self(envelope, attempts)
    }
}

/// Exponential back-off: `first × factor^(attempts − 1)`, capped, for at most `max_attempts`
/// failed attempts.
///
/// The seed's example (`12 × 5^attempts` seconds while `attempts <= 5`) is
/// `Exponential { first: 60 s, factor: 5.0, cap: None, max_attempts: 5 }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Exponential {
    /// The delay after the first failure.
    pub first: Duration,
    /// How much each delay grows over the previous one.
    pub factor: f64,
    /// The longest delay, if any.
    pub cap: Option<Duration>,
    /// After this many failed attempts, give up.
    pub max_attempts: u32,
}

impl Exponential {
    /// python-slimta's documented example: 5 retries after 60 s, 300 s, 1500 s, 7500 s, 37500 s.
    pub fn seed_example() -> Self {
        Self {
            first: Duration::from_secs(60),
            factor: 5.0,
            cap: None,
            max_attempts: 5,
        }
    }
}

impl Backoff for Exponential {
    fn delay(&self, _envelope: &Envelope, attempts: u32) -> Option<Duration> {
        if attempts == 0 || attempts > self.max_attempts {
            return None;
        }
        let exponent = i32::try_from(attempts - 1).unwrap_or(i32::MAX);
        let seconds = self.first.as_secs_f64() * self.factor.powi(exponent);
        let delay = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        Some(self.cap.map_or(delay, |cap| delay.min(cap)))
    }
}

/// A fixed list of delays, the last one repeating. It never gives up by itself: the queue stops
/// retrying once the next attempt would fall after the message's maximum lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Delay after the 1st, 2nd, ... failure; the last repeats.
    pub delays: Vec<Duration>,
}

/// The default maximum time a message stays queued, [`crate::QueueBuilder::max_lifetime`]'s
/// default (RFC 5321 §4.5.4.1: "at least 4-5 days").
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(5 * 24 * 3600);

impl Schedule {
    /// envoi's default, in the spirit of RFC 5321 §4.5.4.1: retry after 5, 10 and 30 minutes,
    /// then 1, 2 and every 4 hours (for at most the queue's lifetime, five days by default).
    pub fn rfc5321() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Self {
            delays: vec![
                minutes(5),
                minutes(10),
                minutes(30),
                minutes(60),
                minutes(120),
                minutes(240),
            ],
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self::rfc5321()
    }
}

impl Backoff for Schedule {
    fn delay(&self, _envelope: &Envelope, attempts: u32) -> Option<Duration> {
        let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
        self.delays.get(index).or(self.delays.last()).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoi_types::Sender;

    fn env() -> Envelope {
        Envelope::new(Sender::Null, vec![], Vec::new())
    }

    #[test]
    fn seed_example_is_exact() {
        let b = Exponential::seed_example();
        let got: Vec<Option<u64>> = (1..=6)
            .map(|n| b.delay(&env(), n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            got,
            vec![
                Some(60),
                Some(300),
                Some(1500),
                Some(7500),
                Some(37500),
                None
            ]
        );
    }

    #[test]
    fn exponential_cap() {
        let b = Exponential {
            first: Duration::from_secs(10),
            factor: 2.0,
            cap: Some(Duration::from_secs(30)),
            max_attempts: 10,
        };
        let got: Vec<u64> = (1..=4)
            .map(|n| b.delay(&env(), n).unwrap().as_secs())
            .collect();
        assert_eq!(got, vec![10, 20, 30, 30]);
    }

    #[test]
    fn huge_or_non_finite_factors_are_capped_never_a_panic() {
        for factor in [f64::INFINITY, f64::NAN, f64::MAX, -3.0] {
            let capped = Exponential {
                first: Duration::from_secs(60),
                factor,
                cap: Some(Duration::from_secs(3600)),
                max_attempts: u32::MAX,
            };
            assert_eq!(
                capped.delay(&env(), u32::MAX),
                Some(Duration::from_secs(3600)),
                "{factor}"
            );
            let uncapped = Exponential {
                cap: None,
                ..capped
            };
            assert!(uncapped.delay(&env(), 1000).is_some(), "{factor}");
        }
    }

    #[test]
    fn schedule_repeats_last() {
        let s = Schedule {
            delays: vec![Duration::from_secs(300), Duration::from_secs(600)],
        };
        assert_eq!(s.delay(&env(), 0), None);
        assert_eq!(s.delay(&env(), 1), Some(Duration::from_secs(300)));
        assert_eq!(s.delay(&env(), 2), Some(Duration::from_secs(600)));
        assert_eq!(s.delay(&env(), 7), Some(Duration::from_secs(600)));
        assert_eq!(Schedule { delays: vec![] }.delay(&env(), 1), None);
    }

    #[test]
    fn closures_are_backoffs() {
        let b = |_: &Envelope, n: u32| (n < 3).then(|| Duration::from_secs(u64::from(n)));
        assert_eq!(Backoff::delay(&b, &env(), 2), Some(Duration::from_secs(2)));
        assert_eq!(Backoff::delay(&b, &env(), 3), None);
    }

    #[test]
    fn rfc_default_grows_to_four_hours() {
        let s = Schedule::rfc5321();
        assert_eq!(s.delay(&env(), 1), Some(Duration::from_secs(300)));
        assert_eq!(s.delay(&env(), 30), Some(Duration::from_secs(4 * 3600)));
    }
}
