//! Recent DANE decisions per MX host, so a busy destination does not repeat its DNSSEC
//! lookups for every message: each kept for [`LIFETIME`] (shorter than any sensible TTL of
//! TLSA records), deferrals never kept (the next attempt asks again), [`CAPACITY`] hosts at
//! most.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::DaneDecision;

/// How long a decision is reused.
pub(crate) const LIFETIME: Duration = Duration::from_secs(60);
/// Hosts remembered at most; beyond, expired ones are dropped, then all.
pub(crate) const CAPACITY: usize = 10_000;

/// The remembered decisions.
#[derive(Debug, Default)]
pub(crate) struct Decisions {
    by_host: Mutex<HashMap<String, (Instant, DaneDecision)>>,
}

impl Decisions {
    /// The decision for `host` made less than [`LIFETIME`] ago.
    pub(crate) fn get(&self, host: &str) -> Option<DaneDecision> {
        let by_host = self.by_host.lock().unwrap_or_else(|p| p.into_inner());
        by_host
            .get(host)
            .filter(|(made, _)| made.elapsed() < LIFETIME)
            .map(|(_, decision)| decision.clone())
    }

    /// Remembers `decision` for `host` (not a deferral).
    pub(crate) fn put(&self, host: &str, decision: &DaneDecision) {
        if matches!(decision, DaneDecision::Defer(_)) {
            return;
        }
        let mut by_host = self.by_host.lock().unwrap_or_else(|p| p.into_inner());
        if by_host.len() >= CAPACITY {
            by_host.retain(|_, (made, _)| made.elapsed() < LIFETIME);
            if by_host.len() >= CAPACITY {
                by_host.clear();
            }
        }
        by_host.insert(host.to_owned(), (Instant::now(), decision.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_decisions_but_not_deferrals() {
        let decisions = Decisions::default();
        decisions.put("mx.test", &DaneDecision::EncryptOnly);
        decisions.put("other.test", &DaneDecision::Defer("SERVFAIL".into()));
        assert_eq!(decisions.get("mx.test"), Some(DaneDecision::EncryptOnly));
        assert_eq!(decisions.get("other.test"), None);
    }
}
