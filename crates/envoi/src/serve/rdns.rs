//! The edge's client-name lookups ([`envoi_edge::ReverseDns`]) over hickory-resolver, asking
//! the same name servers as the relay (`relay.dns`, else the system's).

use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;
use envoi_edge::ReverseDns;
use hickory_resolver::TokioAsyncResolver;

/// PTR and address lookups through hickory; failures answer empty (the client is `unknown`).
pub struct HickoryReverseDns {
    inner: TokioAsyncResolver,
}

impl HickoryReverseDns {
    /// Asks these name servers (UDP with TCP fallback); reads no system file.
    pub fn new(name_servers: &[SocketAddr]) -> Self {
        Self {
            inner: envoi_relay::resolver::hickory_for(name_servers),
        }
    }
}

#[async_trait]
impl ReverseDns for HickoryReverseDns {
    async fn names(&self, ip: IpAddr) -> Vec<String> {
        match self.inner.reverse_lookup(ip).await {
            Ok(lookup) => lookup.iter().map(|ptr| ptr.0.to_ascii()).collect(),
            Err(error) => {
                tracing::debug!(%ip, %error, "no client name");
                Vec::new()
            }
        }
    }

    async fn addresses(&self, name: &str) -> Vec<IpAddr> {
        // Fully qualified: no search-list surprises.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.inner.lookup_ip(fqdn).await {
            Ok(lookup) => lookup.iter().collect(),
            Err(error) => {
                tracing::debug!(name, %error, "client name does not resolve");
                Vec::new()
            }
        }
    }
}
