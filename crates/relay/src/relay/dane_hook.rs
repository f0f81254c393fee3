//! Where DANE enters MX delivery (RFC 7672 §2.2): per MX host, before its addresses are
//! tried, the DANE decision leaves the candidate alone, turns it into one with mandatory
//! STARTTLS verified against the host's TLSA records (or mandatory but unauthenticated when
//! none is usable), or defers the host with a transient `4.7.5`.
//!
//! Only MX delivery (routes and smarthosts are the administrator's), and never for a domain
//! with its own `tls_domains` policy: that entry is the administrator's override.

use std::net::IpAddr;

use super::{Candidate, Inner};
use crate::dane::{DaneConnector, DaneDecision, Tlsa};
use crate::failure::Failure;
use crate::hop::{Endpoint, TlsPolicy};
use crate::routes::Route;
use crate::security::Security;
use ring::digest;

/// The TLS a DANE decision imposes on one host's sessions.
#[derive(Clone)]
pub(super) struct DaneTls {
    /// The STARTTLS connector to use instead of the policy's.
    pub(super) connector: DaneConnector,
    /// Part of the pool profile: a connection verified against other records (or opened
    /// under another policy) never carries this host's mail, nor the reverse.
    pub(super) profile: String,
}

/// `candidate` as DANE has it: `Ok(None)` when DANE does not apply (the candidate stands),
/// `Ok(Some(_))` with mandatory STARTTLS and DANE's connector.
///
/// # Errors
/// [`Failure::Tls`] (transient `4.7.5`) when the host's DNSSEC records are bogus or could
/// not be looked up.
pub(super) async fn apply(
    inner: &Inner,
    route: &Route,
    candidate: &Candidate,
) -> Result<Option<Candidate>, Failure> {
    let (Some(dane), Route::Mx { domain }) = (&inner.dane, route) else {
        return Ok(None);
    };
    if inner.config.tls.per_domain.contains_key(domain) {
        return Ok(None);
    }
    let Endpoint::Tcp { host, .. } = &candidate.host else {
        return Ok(None);
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if literal.parse::<IpAddr>().is_ok() {
        return Ok(None);
    }
    let decision = tokio::time::timeout(inner.config.timeouts.dns, dane.for_host(host))
        .await
        .unwrap_or_else(|_| DaneDecision::Defer("DNSSEC lookups timed out".to_owned()));
    tracing::debug!(%host, ?decision, "DANE");
    let tls = match decision {
        DaneDecision::NotApplicable => return Ok(None),
        DaneDecision::Defer(reason) => {
            tracing::info!(%host, %reason, "DANE: host deferred");
            return Err(Failure::Tls(format!("DANE: {reason}")));
        }
        DaneDecision::EncryptOnly => DaneTls {
            connector: DaneConnector {
                connector: inner.tls.opportunistic.clone(),
                authenticates: false,
            },
            profile: "dane-encrypt".to_owned(),
        },
        DaneDecision::Authenticate(records) => DaneTls {
            profile: profile(&records),
            connector: dane
                .connector(records)
                .map_err(|e| Failure::Tls(format!("DANE: {e}")))?,
        },
    };
    // DANE takes the place of whatever MTA-STS asked (RFC 8461 §2).
    Ok(Some(Candidate {
        tls: TlsPolicy::Required,
        dane: Some(tls),
        security: Security::dane(),
        ..candidate.clone()
    }))
}

/// A short name for a set of records: `dane-` and the SHA-256 of their fields, in order.
fn profile(records: &[Tlsa]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    for record in records {
        context.update(&[record.usage, record.selector, record.matching]);
        context.update(&(record.data.len() as u64).to_be_bytes());
        context.update(&record.data);
    }
    let hex: String = context
        .finish()
        .as_ref()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("dane-{hex}")
}
