//! Which TLS policy a delivery runs under, decided in one place, and what MTA-STS asks of the
//! hosts and sessions of an MX delivery.
//!
//! Precedence for MX delivery, first that applies: the administrator's `relay.tls_domains`
//! entry for the recipient domain; DANE (decided by its own module, ahead of MTA-STS);
//! the domain's MTA-STS policy (RFC 8461); the relay's default policy. Routes, smarthosts and
//! LMTP targets use their configured policy only.
//!
//! MTA-STS `enforce`: only MX hosts matching the policy are tried (none → `451 4.7.5`), with
//! TLS required and verified for the MX host name (`TlsPolicy::Required`: no clear-text
//! fallback, and pooled connections opened under a weaker policy are not shared).
//! `testing`: delivery as without the policy; what would have failed is counted and logged.
//!
//! # Layout
//! - [`Security`]: the decision for one destination; [`for_mx`] makes it.
//! - [`Security::admit`]: the MX hosts an `enforce` policy allows.
//! - [`Security::observe_session`] / [`Security::observe_failure`]: the failure counter.
//! - [`Security::report`]: what the outcome says of the session's protection.

use std::sync::Arc;

use envoi_types::{AppliedTls, TlsReport};

use crate::client::conn::Connection;
use crate::config::RelayConfig;
use crate::failure::Failure;
use crate::hop::TlsPolicy;
use crate::mta_sts::cache::Cached;
use crate::mta_sts::{record_failure, Mode, MtaSts};

/// The TLS decision for one destination's hosts.
#[derive(Debug, Clone)]
pub(crate) struct Security {
    /// The STARTTLS policy sessions open under.
    pub tls: TlsPolicy,
    /// Where that policy came from, as the outcome reports it.
    pub applied: AppliedTls,
    /// The MTA-STS policy in force (enforce or testing), with its domain.
    sts: Option<Arc<(String, Arc<Cached>)>>,
}

impl Security {
    /// A configured policy (`relay.tls`, a domain's or a route's).
    pub fn configured(tls: TlsPolicy) -> Self {
        let applied = match tls {
            TlsPolicy::None => AppliedTls::None,
            TlsPolicy::Opportunistic => AppliedTls::Opportunistic,
            TlsPolicy::Required => AppliedTls::Required,
        };
        Self {
            tls,
            applied,
            sts: None,
        }
    }

    /// DANE's: mandatory STARTTLS, authenticated by the host's TLSA records when usable ones
    /// exist; it replaces any MTA-STS policy for the host (RFC 8461 §2).
    pub fn dane() -> Self {
        Self {
            tls: TlsPolicy::Required,
            applied: AppliedTls::Dane,
            sts: None,
        }
    }

    fn enforcing(&self) -> Option<&(String, Arc<Cached>)> {
        self.sts
            .as_deref()
            .filter(|(_, c)| c.policy.mode == Mode::Enforce)
    }

    /// The MX hosts to try: under an `enforce` policy, those matching it, in order.
    ///
    /// # Errors
    /// `451 4.7.5` ([`Failure::MtaStsNoMatch`]) when an `enforce` policy leaves none.
    pub fn admit(&self, hosts: Vec<String>) -> Result<Vec<String>, Failure> {
        let Some((domain, cached)) = self.enforcing() else {
            return Ok(hosts);
        };
        let first = hosts.first().cloned().unwrap_or_default();
        let kept: Vec<String> = hosts
            .into_iter()
            .filter(|h| cached.policy.matches(h))
            .collect();
        if kept.is_empty() {
            record_failure(domain, Mode::Enforce, "mx-mismatch", &first);
            return Err(Failure::MtaStsNoMatch(domain.clone()));
        }
        Ok(kept)
    }

    /// Under a `testing` policy, counts what the session to `host` would have failed.
    pub fn observe_session(&self, host: &str, conn: &Connection) {
        let Some((domain, cached)) = self.sts.as_deref() else {
            return;
        };
        if cached.policy.mode != Mode::Testing {
            return;
        }
        if !cached.policy.matches(host) {
            record_failure(domain, Mode::Testing, "mx-mismatch", host);
        } else if !conn.tls {
            record_failure(domain, Mode::Testing, "starttls-not-supported", host);
        } else if !conn.verified {
            record_failure(domain, Mode::Testing, "certificate-not-verified", host);
        }
    }

    /// Under an `enforce` policy, counts a session to `host` that failed for TLS.
    pub fn observe_failure(&self, host: &str, failure: &Failure) {
        let Some((domain, _)) = self.enforcing() else {
            return;
        };
        let reason = match failure {
            Failure::TlsUnavailable => "starttls-not-supported",
            Failure::Tls(_) => "tls-failure",
            _ => return,
        };
        record_failure(domain, Mode::Enforce, reason, host);
    }

    /// The protection of the session `conn` carried the delivery over.
    pub fn report(&self, conn: &Connection) -> TlsReport {
        if !conn.tls {
            return TlsReport {
                policy: AppliedTls::None,
                verified: false,
            };
        }
        TlsReport {
            policy: self.applied,
            verified: conn.verified,
        }
    }
}

/// The decision for MX delivery to `domain` (lower case); see the module's precedence.
pub(crate) async fn for_mx(
    config: &RelayConfig,
    mta_sts: Option<&MtaSts>,
    domain: &str,
) -> Security {
    // The administrator's word for this domain overrides anything published.
    if let Some(policy) = config.tls.per_domain.get(domain) {
        return Security::configured(*policy);
    }
    // DANE, when it applies to a host, replaces this decision for it (`relay::dane_hook`).
    if let Some(cached) = match mta_sts {
        Some(service) => service.policy(domain).await,
        None => None,
    } {
        let sts = Some(Arc::new((domain.to_owned(), cached.clone())));
        if cached.policy.mode == Mode::Enforce {
            return Security {
                tls: TlsPolicy::Required,
                applied: AppliedTls::MtaSts,
                sts,
            };
        }
        return Security {
            sts,
            ..Security::configured(config.tls.default_policy)
        };
    }
    Security::configured(config.tls.default_policy)
}
