//! DNS behind a trait: MX and address lookups, with hickory-resolver in production and a
//! static table for tests.
//!
//! # Layout
//! - [`Resolver`]: the lookups the relay needs (MX, addresses, TXT for MTA-STS); [`MxRecord`], [`DnsError`].
//! - [`HickoryResolver`]: the production resolver, talking to configured name servers.
//! - [`StaticResolver`]: a fixed table serving MX, A, AAAA, TXT, null MX, NXDOMAIN and SERVFAIL.
//! - [`TimedResolver`]: bounds every lookup of another resolver by a timeout.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::{ResolveError, ResolveErrorKind};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::TokioAsyncResolver;

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    /// Lower is tried first.
    pub preference: u16,
    /// The exchange host name without its trailing dot; empty for a null MX (`.`, RFC 7505).
    pub exchange: String,
}

/// A failed lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// NXDOMAIN: the name does not exist.
    #[error("name does not exist")]
    NotFound,
    /// SERVFAIL, timeout or any other failure worth retrying.
    #[error("temporary DNS failure: {0}")]
    Temporary(String),
}

/// The lookups MX delivery needs.
#[async_trait]
pub trait Resolver: Send + Sync + 'static {
    /// The MX records of `domain`. `Ok(vec![])` means the domain exists but has no MX (the
    /// caller falls back to its address records, RFC 5321 §5.1).
    ///
    /// # Errors
    /// [`DnsError::NotFound`] for NXDOMAIN, [`DnsError::Temporary`] otherwise.
    async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError>;

    /// The A and AAAA addresses of `host`; `Ok(vec![])` when it exists without any.
    ///
    /// # Errors
    /// As [`Resolver::mx`].
    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError>;

    /// The TXT records of `name`, each its character-strings joined (RFC 7208 §3.3 style),
    /// lossy UTF-8; `Ok(vec![])` when it exists without any.
    ///
    /// # Errors
    /// As [`Resolver::mx`].
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError>;
}

/// A hickory resolver asking exactly these name servers (UDP with TCP fallback), reading no
/// system file; for other lookups (the edge's client names) over the relay's name servers.
pub fn hickory_for(name_servers: &[SocketAddr]) -> TokioAsyncResolver {
    let mut group = NameServerConfigGroup::new();
    for addr in name_servers {
        group.merge(NameServerConfigGroup::from_ips_clear(
            &[addr.ip()],
            addr.port(),
            true,
        ));
    }
    let config = ResolverConfig::from_parts(None, vec![], group);
    TokioAsyncResolver::tokio(config, ResolverOpts::default())
}

/// hickory-resolver asking the given name servers (UDP with TCP fallback).
pub struct HickoryResolver {
    inner: TokioAsyncResolver,
}

impl HickoryResolver {
    /// A resolver asking these name servers (e.g. `127.0.0.53:53`). The daemon decides where
    /// they come from; this crate reads no system files.
    pub fn new(name_servers: &[SocketAddr]) -> Self {
        Self::from_hickory(hickory_for(name_servers))
    }

    /// Wraps an already configured hickory resolver (e.g. from the system configuration).
    pub fn from_hickory(inner: TokioAsyncResolver) -> Self {
        Self { inner }
    }
}

/// Names are asked as fully qualified: no search-list surprises.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// `Ok(())`: the name exists without records of that type (NODATA).
fn classify(error: &ResolveError) -> Result<(), DnsError> {
    match error.kind() {
        ResolveErrorKind::NoRecordsFound { response_code, .. } => match *response_code {
            ResponseCode::NXDomain => Err(DnsError::NotFound),
            ResponseCode::NoError => Ok(()),
            other => Err(DnsError::Temporary(other.to_string())),
        },
        _ => Err(DnsError::Temporary(error.to_string())),
    }
}

#[async_trait]
impl Resolver for HickoryResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        match self.inner.mx_lookup(fqdn(domain)).await {
            Ok(lookup) => Ok(lookup
                .iter()
                .map(|mx| MxRecord {
                    preference: mx.preference(),
                    exchange: mx.exchange().to_utf8().trim_end_matches('.').to_owned(),
                })
                .collect()),
            Err(error) => classify(&error).map(|()| Vec::new()),
        }
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        match self.inner.lookup_ip(fqdn(host)).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(error) => classify(&error).map(|()| Vec::new()),
        }
    }

    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        match self.inner.txt_lookup(fqdn(name)).await {
            Ok(lookup) => Ok(lookup
                .iter()
                .map(|txt| {
                    let joined: Vec<u8> = txt
                        .txt_data()
                        .iter()
                        .flat_map(|s| s.iter().copied())
                        .collect();
                    String::from_utf8_lossy(&joined).into_owned()
                })
                .collect()),
            Err(error) => classify(&error).map(|()| Vec::new()),
        }
    }
}

/// Another resolver with every lookup bounded by a timeout (then [`DnsError::Temporary`]).
pub struct TimedResolver {
    inner: Arc<dyn Resolver>,
    timeout: Duration,
}

impl TimedResolver {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Resolver>, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

fn timed_out(_: tokio::time::error::Elapsed) -> DnsError {
    DnsError::Temporary("DNS lookup timed out".to_owned())
}

#[async_trait]
impl Resolver for TimedResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        tokio::time::timeout(self.timeout, self.inner.mx(domain))
            .await
            .map_err(timed_out)?
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        tokio::time::timeout(self.timeout, self.inner.ips(host))
            .await
            .map_err(timed_out)?
    }

    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        tokio::time::timeout(self.timeout, self.inner.txt(name))
            .await
            .map_err(timed_out)?
    }
}

/// A fixed DNS table for tests: names not in it are NXDOMAIN.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    mx: HashMap<String, Vec<MxRecord>>,
    ips: HashMap<String, Vec<IpAddr>>,
    txt: HashMap<String, Vec<String>>,
    failures: HashMap<String, DnsError>,
}

impl StaticResolver {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an MX record `domain → exchange` with a preference.
    pub fn with_mx(mut self, domain: &str, preference: u16, exchange: &str) -> Self {
        self.mx
            .entry(domain.to_lowercase())
            .or_default()
            .push(MxRecord {
                preference,
                exchange: exchange.trim_end_matches('.').to_lowercase(),
            });
        self
    }

    /// Publishes a null MX (`0 .`) for `domain`.
    pub fn with_null_mx(self, domain: &str) -> Self {
        self.with_mx(domain, 0, ".")
    }

    /// Adds an A record.
    pub fn with_a(mut self, host: &str, ip: Ipv4Addr) -> Self {
        self.ips
            .entry(host.to_lowercase())
            .or_default()
            .push(IpAddr::V4(ip));
        self
    }

    /// Adds an AAAA record.
    pub fn with_aaaa(mut self, host: &str, ip: Ipv6Addr) -> Self {
        self.ips
            .entry(host.to_lowercase())
            .or_default()
            .push(IpAddr::V6(ip));
        self
    }

    /// Adds a TXT record (its character-strings already joined).
    pub fn with_txt(mut self, name: &str, text: &str) -> Self {
        self.txt
            .entry(name.to_lowercase())
            .or_default()
            .push(text.to_owned());
        self
    }

    /// `name` exists but has no MX, A or AAAA records (NODATA).
    pub fn with_no_records(mut self, name: &str) -> Self {
        self.ips.entry(name.to_lowercase()).or_default();
        self
    }

    /// Every lookup of `name` answers SERVFAIL.
    pub fn with_servfail(mut self, name: &str) -> Self {
        self.failures.insert(
            name.to_lowercase(),
            DnsError::Temporary("SERVFAIL".to_owned()),
        );
        self
    }

    /// Every lookup of `name` answers NXDOMAIN (also the answer for unknown names).
    pub fn with_nxdomain(mut self, name: &str) -> Self {
        self.failures
            .insert(name.to_lowercase(), DnsError::NotFound);
        self
    }

    fn exists(&self, name: &str) -> bool {
        self.mx.contains_key(name) || self.ips.contains_key(name) || self.txt.contains_key(name)
    }
}

#[async_trait]
impl Resolver for StaticResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        let name = domain.trim_end_matches('.').to_lowercase();
        if let Some(error) = self.failures.get(&name) {
            return Err(error.clone());
        }
        if !self.exists(&name) {
            return Err(DnsError::NotFound);
        }
        Ok(self.mx.get(&name).cloned().unwrap_or_default())
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let name = host.trim_end_matches('.').to_lowercase();
        if let Some(error) = self.failures.get(&name) {
            return Err(error.clone());
        }
        if !self.exists(&name) {
            return Err(DnsError::NotFound);
        }
        Ok(self.ips.get(&name).cloned().unwrap_or_default())
    }

    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let name = name.trim_end_matches('.').to_lowercase();
        if let Some(error) = self.failures.get(&name) {
            return Err(error.clone());
        }
        if !self.exists(&name) {
            return Err(DnsError::NotFound);
        }
        Ok(self.txt.get(&name).cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_table_answers() {
        let dns = StaticResolver::new()
            .with_mx("a.org", 10, "mx.a.org.")
            .with_a("mx.a.org", Ipv4Addr::LOCALHOST)
            .with_aaaa("mx.a.org", Ipv6Addr::LOCALHOST)
            .with_a("nomx.org", Ipv4Addr::LOCALHOST)
            .with_servfail("broken.org");
        assert_eq!(dns.mx("A.org").await.unwrap()[0].exchange, "mx.a.org");
        assert_eq!(dns.ips("mx.a.org").await.unwrap().len(), 2);
        assert_eq!(dns.mx("nomx.org").await, Ok(vec![]));
        assert_eq!(dns.mx("none.org").await, Err(DnsError::NotFound));
        assert!(matches!(
            dns.mx("broken.org").await,
            Err(DnsError::Temporary(_))
        ));
        assert_eq!(dns.ips("a.org").await, Ok(vec![]));
    }
}
