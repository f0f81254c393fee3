//! The sign-in rate limit: a few wrong tokens per client address per minute, then `429`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Wrong sign-ins one address may make within [`WINDOW`].
pub(crate) const MAX_FAILURES: usize = 5;
/// The window the failures are counted over.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past it the quiet ones are forgotten first.
const MAX_ADDRESSES: usize = 10_000;

/// Recent wrong sign-ins per client address.
#[derive(Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Throttle {
    /// Whether `ip` may try to sign in now (an unknown address shares one bucket).
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(times) = failures.get_mut(&key(ip)) else {
            return true;
        };
        forget_old(times, now);
        times.len() < MAX_FAILURES
    }

    /// Counts a wrong sign-in from `ip`.
    pub fn failed(&self, ip: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_ADDRESSES {
            failures.retain(|_, times| {
                forget_old(times, now);
                !times.is_empty()
            });
        }
        let times = failures.entry(key(ip)).or_default();
        forget_old(times, now);
        if times.len() < MAX_FAILURES {
            times.push_back(now);
        }
    }
}

fn key(ip: Option<IpAddr>) -> IpAddr {
    ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn forget_old(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|&at| now.saturating_duration_since(at) >= WINDOW)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_a_few_failures_per_address() {
        let throttle = Throttle::default();
        let one: IpAddr = "192.0.2.1"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        for _ in 0..MAX_FAILURES {
            assert!(throttle.allows(Some(one)));
            throttle.failed(Some(one));
        }
        assert!(!throttle.allows(Some(one)));
        assert!(throttle.allows(Some(IpAddr::V4(Ipv4Addr::LOCALHOST))));
    }
}
