//! MTA-STS (RFC 8461): which recipient domains publish a policy, the policy itself, and what
//! it asks of MX delivery.
//!
//! [`MtaSts::policy`] follows §5: look up `_mta-sts.<domain>` TXT; when its id differs from
//! the cached policy's, or the cached policy has outlived its `max_age`, fetch the policy
//! again; a failed fetch keeps using an unexpired cached policy; no record and no cached
//! policy means the domain does not use MTA-STS. Mode `none` is as no policy.
//!
//! What a policy changes in delivery is `crate::security`'s; this module also keeps the
//! failure counter ([`FAILURES`]) that module and the relay record into.
//!
//! # Layout
//! - `record`: the TXT record; `policy`: the policy text and MX matching (both sans-IO).
//! - `http`: the HTTP response (sans-IO); `fetch`: the HTTPS GET.
//! - `cache`: policies by domain, in memory and on disk.
//! - [`MtaSts`]: the service; [`MtaStsConfig`]: its settings.

pub mod cache;
pub mod fetch;
pub mod http;
pub mod policy;
pub mod record;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_rustls::TlsConnector;

use crate::resolver::Resolver;
use cache::{Cache, Cached};
use fetch::Fetcher;
pub use policy::{Mode, Policy};
use record::Record;

/// Counter of deliveries an MTA-STS policy failed (in `enforce` mode: refused; in
/// `testing` mode: would have refused), labelled `domain` (the policy domain), `mode` and
/// `reason` (`mx-mismatch`, `starttls-not-supported`, `certificate-not-verified`,
/// `tls-failure`). Also logged; no TLS-RPT report (RFC 8460) is sent.
pub const FAILURES: &str = "envoi_mta_sts_failures_total";

/// Describes [`FAILURES`] to the metrics recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        FAILURES,
        "Deliveries an MTA-STS policy failed (enforce) or would have failed (testing), by policy domain, mode and reason"
    );
}

/// Counts and logs one policy failure.
pub fn record_failure(domain: &str, mode: Mode, reason: &'static str, host: &str) {
    tracing::warn!(
        domain,
        mode = mode.as_str(),
        reason,
        host,
        "MTA-STS policy failure"
    );
    metrics::counter!(
        FAILURES,
        "domain" => domain.to_owned(),
        "mode" => mode.as_str(),
        "reason" => reason
    )
    .increment(1);
}

/// MTA-STS settings (`[relay.mta_sts]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct MtaStsConfig {
    /// Whether MX delivery looks for and applies MTA-STS policies (default true).
    pub enabled: bool,
    /// Where fetched policies are kept across restarts; `None`: in memory only. The daemon
    /// defaults it to a directory inside its spool directory.
    pub cache_dir: Option<PathBuf>,
    /// One policy fetch from one address of `mta-sts.<domain>`, connection to last octet
    /// (default 30 s); the addresses are tried in turn.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub fetch_timeout: Duration,
    /// The HTTPS port policies are fetched from: 443; tests use another.
    pub https_port: u16,
}

impl Default for MtaStsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cache_dir: None,
            fetch_timeout: Duration::from_secs(30),
            https_port: 443,
        }
    }
}

/// The policy service: TXT lookups, fetches and the cache.
pub struct MtaSts {
    resolver: Arc<dyn Resolver>,
    fetcher: Fetcher,
    cache: Cache,
    /// One refresh at a time per domain: concurrent deliveries wait for the fetch in flight
    /// instead of fetching again.
    refreshing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for MtaSts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtaSts")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl MtaSts {
    /// The service for `config`, fetching with `connector` (the relay's verifying one) and
    /// resolving with `resolver`; the cache directory is read now.
    pub fn new(
        config: &MtaStsConfig,
        resolver: Arc<dyn Resolver>,
        connector: TlsConnector,
    ) -> Self {
        Self {
            resolver,
            fetcher: Fetcher::new(connector, config.https_port, config.fetch_timeout),
            cache: Cache::open(config.cache_dir.clone()),
            refreshing: Mutex::new(HashMap::new()),
        }
    }

    /// The policy that applies to mail for `domain` (lower case) now, `None` when the domain
    /// uses no MTA-STS (no record and nothing cached, or mode `none`).
    pub async fn policy(&self, domain: &str) -> Option<Arc<Cached>> {
        let found = self.current(domain).await;
        found.filter(|c| c.policy.mode != Mode::None)
    }

    async fn current(&self, domain: &str) -> Option<Arc<Cached>> {
        let now = SystemTime::now();
        let txt = self.resolver.txt(&format!("_mta-sts.{domain}")).await;
        let record = match &txt {
            Ok(texts) => Record::select(texts),
            Err(e) => {
                tracing::debug!(domain, error = %e, "MTA-STS record lookup failed");
                None
            }
        };
        let cached = self.cache.get(domain).filter(|c| c.is_fresh(now));
        let Some(record) = record else {
            // §5.1: a cached policy stays in force for its max_age even when the record is
            // gone (or cannot be looked up).
            return cached;
        };
        if let Some(cached) = cached.as_ref().filter(|c| c.id == record.id) {
            return Some(cached.clone());
        }
        let gate = self.gate(domain);
        let _refreshing = gate.lock().await;
        // Another delivery may have refreshed it while this one waited.
        if let Some(fresh) = self
            .cache
            .get(domain)
            .filter(|c| c.id == record.id && c.is_fresh(SystemTime::now()))
        {
            return Some(fresh);
        }
        match self.fetcher.fetch(self.resolver.as_ref(), domain).await {
            Ok(text) => match Policy::parse(&text) {
                Ok(policy) => {
                    tracing::info!(domain, id = %record.id, mode = policy.mode.as_str(), "MTA-STS policy fetched");
                    Some(self.cache.put(
                        domain,
                        Cached {
                            id: record.id,
                            policy,
                            fetched: SystemTime::now(),
                        },
                    ))
                }
                Err(e) => {
                    tracing::warn!(domain, error = %e, "MTA-STS policy invalid; keeping the cached one if any");
                    cached
                }
            },
            Err(e) => {
                tracing::warn!(domain, error = %e, "MTA-STS policy fetch failed; keeping the cached one if any");
                cached
            }
        }
    }

    fn gate(&self, domain: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.refreshing.lock() {
            Ok(mut gates) => gates.entry(domain.to_owned()).or_default().clone(),
            // A poisoned map only loses the de-duplication of fetches.
            Err(_) => Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests;
