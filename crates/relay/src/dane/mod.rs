//! DANE for SMTP (RFC 7672): per MX host, DNSSEC-validated TLSA records decide whether
//! STARTTLS is mandatory and how the server's certificate is authenticated.
//!
//! [`Dane::for_host`] validates the host's address records and then its TLSA records
//! (`_25._tcp.<host>`) against the configured trust anchors, asking the relay's name servers
//! with DNSSEC records requested and checking every signature itself:
//!
//! | host's A/AAAA | TLSA                    | [`DaneDecision`]                    |
//! |---------------|-------------------------|-------------------------------------|
//! | insecure      | —                       | `NotApplicable` (usual TLS policy)  |
//! | secure        | securely absent         | `NotApplicable`                     |
//! | secure        | insecure                | `NotApplicable`                     |
//! | secure        | usable records          | `Authenticate` (TLS, must match)    |
//! | secure        | only unusable records   | `EncryptOnly` (TLS, unauthenticated)|
//! | bogus/failed  | or bogus/failed         | `Defer` (transient `4.7.5`)         |
//!
//! The TLSA base name is always port 25 (RFC 7672 §2.2.3), whatever port MX hosts are
//! contacted on. The MX lookup itself is not validated: DANE applies to an MX host whose own
//! zone is signed, whether or not the MX RRset was (RFC 7672 §2.2.1).
//!
//! # Layout
//! - `anchors`: trust anchors from zone-file text; `query`: one DNS exchange (DO, CD);
//!   `cache`: recent decisions per host.
//! - `chain`: RRSIG → DNSKEY → DS up to an anchor; `denial`: NSEC proofs; `nsec3`: NSEC3
//!   proofs (closest encloser, opt-out).
//! - `lookup`: secure / insecure / bogus lookups; `walk`: whether a name's zone is signed.
//! - `tlsa`: usable records and matching; `der`: a certificate's SPKI and issuer;
//!   `verifier`: the rustls verifier.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::{Name, RData, RecordType};
use rustls::crypto::CryptoProvider;
use rustls::ClientConfig;
use tokio_rustls::TlsConnector;

mod anchors;
mod cache;
mod chain;
mod denial;
mod der;
mod lookup;
mod nsec3;
mod query;
mod tlsa;
mod verifier;
mod walk;

pub use anchors::{AnchorError, TrustAnchors};
pub use lookup::Security;
pub use tlsa::Tlsa;
pub use verifier::DaneVerifier;

/// How long one DNS exchange may take before the next server is asked.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// DANE's settings: off unless trust anchors are given.
#[derive(Debug, Clone, Default)]
pub struct DaneSettings {
    /// `Some(false)` turns DANE off even with trust anchors; `None` means on when there are
    /// trust anchors.
    pub enabled: Option<bool>,
    /// DNSKEY/DS records in zone-file text.
    pub trust_anchors: String,
    /// The name servers asked (a validating resolver's or authoritative answers alike; every
    /// signature is checked here).
    pub name_servers: Vec<SocketAddr>,
}

/// Why DANE cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaneConfigError {
    /// The trust anchors are unusable.
    #[error(transparent)]
    Anchors(#[from] AnchorError),
    /// DANE is asked for explicitly but there is no trust anchor.
    #[error("DANE needs DNSSEC trust anchors")]
    NoAnchors,
}

/// What DANE says about one MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaneDecision {
    /// DANE does not apply: the usual TLS policy holds.
    NotApplicable,
    /// STARTTLS is mandatory and the certificate must match one of these usable records.
    Authenticate(Vec<Tlsa>),
    /// Secure TLSA records exist but none is usable: STARTTLS is mandatory, unauthenticated
    /// (RFC 7672 §2.2).
    EncryptOnly,
    /// The host's records are bogus or could not be looked up: no delivery to it now
    /// (transient `4.7.5`); the reason is for the logs.
    Defer(String),
}

/// A STARTTLS connector DANE imposes on one host's sessions.
#[derive(Clone)]
pub struct DaneConnector {
    /// The connector sessions upgrade with.
    pub connector: TlsConnector,
    /// True when it authenticates the server by usable TLSA records; false when DANE only
    /// makes encryption mandatory (no usable record).
    pub authenticates: bool,
}

impl std::fmt::Debug for DaneConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DaneConnector")
    }
}

/// DNSSEC-validated TLSA lookups and DANE verifiers.
#[derive(Debug, Clone)]
pub struct Dane {
    client: query::Client,
    anchors: Arc<TrustAnchors>,
    provider: Arc<CryptoProvider>,
    decisions: Arc<cache::Decisions>,
}

impl Dane {
    /// DANE per the settings, or `None` when it is off (no trust anchors, or disabled).
    ///
    /// # Errors
    /// [`DaneConfigError`] for unusable anchors, or DANE enabled without any.
    pub fn new(settings: &DaneSettings) -> Result<Option<Self>, DaneConfigError> {
        let empty = settings.trust_anchors.trim().is_empty();
        match (settings.enabled, empty) {
            (Some(false), _) | (None, true) => return Ok(None),
            (Some(true), true) => return Err(DaneConfigError::NoAnchors),
            _ => {}
        }
        let anchors = TrustAnchors::parse(&settings.trust_anchors)?;
        Ok(Some(Self {
            client: query::Client::new(settings.name_servers.clone(), EXCHANGE_TIMEOUT),
            anchors: Arc::new(anchors),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            decisions: Arc::default(),
        }))
    }

    /// The decision for MX host `host` (a name, not an IP literal); one made in the last
    /// minute is reused, unless it was a deferral.
    pub async fn for_host(&self, host: &str) -> DaneDecision {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(decision) = self.decisions.get(&host) {
            return decision;
        }
        let decision = self.decide(&host).await;
        self.decisions.put(&host, &decision);
        decision
    }

    async fn decide(&self, host: &str) -> DaneDecision {
        let Ok(name) = Name::from_ascii(format!("{}.", host.trim_end_matches('.'))) else {
            return DaneDecision::NotApplicable;
        };
        // A host under no trust anchor cannot be proven secure: nothing to ask.
        if self.anchors.closest(&name).is_none() {
            return DaneDecision::NotApplicable;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // RRSIG times are seconds modulo 2^32 (RFC 4034 §3.1.5): truncation is the point.
        #[allow(clippy::cast_possible_truncation)]
        let now = now as u32;
        let mut chain = chain::Chain::new(&self.client, &self.anchors, now);
        match host_security(&mut chain, &name).await {
            Security::Secure(()) => {}
            Security::Insecure => return DaneDecision::NotApplicable,
            Security::Bogus(e) => return DaneDecision::Defer(e),
        }
        let Ok(base) = Name::from_ascii("_25._tcp").and_then(|b| b.append_name(&name)) else {
            return DaneDecision::Defer(format!("no TLSA name for {host}"));
        };
        match lookup::lookup(&mut chain, &base, RecordType::TLSA, 0).await {
            Security::Secure(records) => {
                let records: Vec<Tlsa> = records
                    .iter()
                    .filter_map(|r| match r.data() {
                        Some(RData::TLSA(tlsa)) => Some(Tlsa::from(tlsa)),
                        _ => None,
                    })
                    .collect();
                if records.is_empty() {
                    DaneDecision::NotApplicable
                } else if records.iter().any(Tlsa::is_usable) {
                    DaneDecision::Authenticate(
                        records.into_iter().filter(Tlsa::is_usable).collect(),
                    )
                } else {
                    DaneDecision::EncryptOnly
                }
            }
            Security::Insecure => DaneDecision::NotApplicable,
            Security::Bogus(e) => DaneDecision::Defer(e),
        }
    }

    /// A STARTTLS connector that accepts only a server matching `records`.
    ///
    /// # Errors
    /// rustls refusing the protocol versions (not expected with ring's defaults).
    pub fn connector(&self, records: Vec<Tlsa>) -> Result<DaneConnector, rustls::Error> {
        let verifier = DaneVerifier::new(records, self.provider.clone());
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(DaneConnector {
            connector: TlsConnector::from(Arc::new(config)),
            authenticates: true,
        })
    }
}

/// Whether the host's addresses are signed: A, or AAAA when it securely has no A.
async fn host_security(chain: &mut chain::Chain<'_>, name: &Name) -> Security<()> {
    match lookup::lookup(chain, name, RecordType::A, 0).await {
        Security::Secure(records) if records.is_empty() => {}
        Security::Secure(_) => return Security::Secure(()),
        Security::Insecure => return Security::Insecure,
        Security::Bogus(e) => return Security::Bogus(e),
    }
    match lookup::lookup(chain, name, RecordType::AAAA, 0).await {
        Security::Secure(_) => Security::Secure(()),
        Security::Insecure => Security::Insecure,
        Security::Bogus(e) => Security::Bogus(e),
    }
}
