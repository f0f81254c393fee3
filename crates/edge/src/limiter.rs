//! Connection limits: overall and per client, released when a session ends.
//!
//! A client is one IPv4 address or one IPv6 /64: a single host commonly holds a whole /64, so
//! counting IPv6 addresses one by one would let it open as many connections as it likes.
//! Clients in the exempt networks (the trusted networks, unless configured otherwise) count
//! only toward the overall limit.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use crate::net::IpNet;

/// Counts open connections; hands out a guard per accepted connection.
#[derive(Debug)]
pub(crate) struct ConnLimiter {
    max_total: usize,
    max_per_ip: usize,
    exempt: Vec<IpNet>,
    // A std mutex: held only to bump counters, never across an await.
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Holds one connection slot until dropped.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    limiter: Arc<ConnLimiter>,
    /// The client's key in the per-client counts; `None` when exempt.
    client: Option<IpAddr>,
}

impl ConnLimiter {
    pub(crate) fn new(max_total: usize, max_per_ip: usize, exempt: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            exempt,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// A slot for a connection from `ip`, or `None` when a limit is reached.
    pub(crate) fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<ConnGuard> {
        let client = (!self.exempt.iter().any(|net| net.contains(ip))).then(|| client_key(ip));
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.total >= self.max_total {
            return None;
        }
        if let Some(key) = client {
            let from_client = counts.per_ip.get(&key).copied().unwrap_or(0);
            if from_client >= self.max_per_ip {
                return None;
            }
            counts.per_ip.insert(key, from_client + 1);
        }
        counts.total += 1;
        Some(ConnGuard {
            limiter: Arc::clone(self),
            client,
        })
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut counts = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        let Some(key) = self.client else {
            return;
        };
        if let Some(n) = counts.per_ip.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_ip.remove(&key);
            }
        }
    }
}

/// The key a client is counted under: an IPv4 address (IPv4-mapped ones too), or the /64 of
/// an IPv6 address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_releases() {
        let limiter = ConnLimiter::new(3, 2, Vec::new());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let g1 = limiter.try_acquire(a).unwrap();
        let _g2 = limiter.try_acquire(a).unwrap();
        assert!(limiter.try_acquire(a).is_none(), "per-IP limit");
        let _g3 = limiter.try_acquire(b).unwrap();
        assert!(limiter.try_acquire(b).is_none(), "global limit");
        drop(g1);
        assert!(limiter.try_acquire(a).is_some());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let limiter = ConnLimiter::new(10, 2, Vec::new());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let _a = limiter.try_acquire(ip("2001:db8:1:2::1")).unwrap();
        let _b = limiter.try_acquire(ip("2001:db8:1:2:ffff::9")).unwrap();
        assert!(
            limiter.try_acquire(ip("2001:db8:1:2::abcd")).is_none(),
            "a third address of the same /64"
        );
        assert!(limiter.try_acquire(ip("2001:db8:1:3::1")).is_some());
        let _c = limiter.try_acquire(ip("192.0.2.1")).unwrap();
        let _d = limiter.try_acquire(ip("::ffff:192.0.2.1")).unwrap();
        assert!(
            limiter.try_acquire(ip("192.0.2.1")).is_none(),
            "IPv4-mapped is the IPv4 client"
        );
        assert!(limiter.try_acquire(ip("192.0.2.2")).is_some());
    }

    #[test]
    fn exempt_networks_count_only_toward_the_total() {
        let limiter = ConnLimiter::new(3, 1, vec!["10.0.0.0/8".parse().unwrap()]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let held: Vec<_> = (0..3)
            .map(|_| limiter.try_acquire(ip("10.1.1.1")).unwrap())
            .collect();
        assert!(limiter.try_acquire(ip("10.1.1.1")).is_none(), "the total");
        drop(held);
        let _one = limiter.try_acquire(ip("11.1.1.1")).unwrap();
        assert!(limiter.try_acquire(ip("11.1.1.1")).is_none());
    }
}
