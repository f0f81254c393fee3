//! `[relay]`: smarthost, routes and LMTP targets, MX and DNS, TLS policy, timeouts, limits.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use envoi_relay::{NextHop, TlsPolicy};
use serde::Deserialize;

/// `[relay]`. Without `smarthost`, mail goes by MX (routes first).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySection {
    /// Everything not routed goes here: `smtp://host:port`, `lmtp://host:port`, `lmtp:/socket`.
    pub smarthost: Option<String>,
    /// AUTH user for the smarthost.
    pub smarthost_user: Option<String>,
    /// AUTH password for the smarthost.
    pub smarthost_password: Option<String>,
    /// Domain → next hops tried in order (same forms as `smarthost`), checked before MX.
    #[serde(default)]
    pub routes: BTreeMap<String, Vec<String>>,
    /// DNS servers for MX lookups; default: the system's (/etc/resolv.conf).
    #[serde(default)]
    pub dns: Vec<SocketAddr>,
    /// Port for MX hosts (default 25).
    pub mx_port: Option<u16>,
    /// Name sent in EHLO (default: the hostname).
    pub helo_name: Option<String>,
    /// Default STARTTLS policy: "none", "opportunistic" (default), "required".
    #[serde(default)]
    pub tls: Option<TlsPolicyName>,
    /// STARTTLS policy per recipient domain.
    #[serde(default)]
    pub tls_domains: BTreeMap<String, TlsPolicyName>,
    /// Extra trusted CA certificates (PEM files), e.g. a private smarthost's CA.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    /// Per-stage timeouts (RFC 5321 §4.5.3.2 defaults).
    #[serde(default)]
    pub timeouts: RelayTimeouts,
    /// Most messages sent over one connection (default 100).
    pub max_messages_per_connection: Option<u32>,
    /// How long an idle connection is kept for reuse.
    #[serde(default, deserialize_with = "super::duration::option")]
    pub idle_timeout: Option<Duration>,
    /// Most simultaneous connections to one destination (default 20).
    pub max_connections_per_destination: Option<usize>,
    /// Idle connections kept for reuse per destination (default: as many as may be open).
    pub max_idle_per_destination: Option<usize>,
    /// Most recipients per transaction sent to a peer.
    pub max_recipients_per_transaction: Option<usize>,
}

/// `[relay.timeouts]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayTimeouts {
    /// TCP connect.
    #[serde(default, deserialize_with = "super::duration::option")]
    pub connect: Option<Duration>,
    /// Greeting banner (5m).
    #[serde(default, deserialize_with = "super::duration::option")]
    pub banner: Option<Duration>,
    /// MAIL reply (5m).
    #[serde(default, deserialize_with = "super::duration::option")]
    pub mail: Option<Duration>,
    /// RCPT reply (5m).
    #[serde(default, deserialize_with = "super::duration::option")]
    pub rcpt: Option<Duration>,
    /// DATA reply (2m).
    #[serde(default, deserialize_with = "super::duration::option")]
    pub data: Option<Duration>,
    /// Each block of message data (3m).
    #[serde(default, deserialize_with = "super::duration::option")]
    pub data_block: Option<Duration>,
    /// The reply to the final dot (10m).
    #[serde(default, deserialize_with = "super::duration::option")]
    pub final_dot: Option<Duration>,
}

/// A STARTTLS policy name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsPolicyName {
    /// Never.
    None,
    /// When offered, unverified.
    Opportunistic,
    /// Always, verified; else a transient 4.7.5.
    Required,
}

impl From<TlsPolicyName> for TlsPolicy {
    fn from(value: TlsPolicyName) -> Self {
        match value {
            TlsPolicyName::None => Self::None,
            TlsPolicyName::Opportunistic => Self::Opportunistic,
            TlsPolicyName::Required => Self::Required,
        }
    }
}

/// Parses a next hop (`smtp://host:port`, `lmtp://host:port`, `lmtp:/socket`); the relay
/// crate owns the syntax.
pub fn parse_hop(text: &str) -> Result<NextHop, String> {
    text.parse::<NextHop>().map_err(|e| e.to_string())
}

impl RelaySection {
    pub(super) fn validate(&self) -> Result<(), String> {
        if let Some(hop) = &self.smarthost {
            parse_hop(hop).map_err(|e| format!("relay.smarthost: {e}"))?;
        }
        if self.smarthost_user.is_some() != self.smarthost_password.is_some() {
            return Err("relay.smarthost_user and relay.smarthost_password go together".into());
        }
        for (domain, hops) in &self.routes {
            if hops.is_empty() {
                return Err(format!(
                    "relay.routes.{domain:?}: list at least one next hop"
                ));
            }
            for hop in hops {
                parse_hop(hop).map_err(|e| format!("relay.routes.{domain:?}: {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_route_names_the_domain_and_the_syntax() {
        let section = RelaySection {
            routes: [("example.org".to_owned(), vec!["http://x".to_owned()])].into(),
            ..RelaySection::default()
        };
        let message = section.validate().unwrap_err();
        assert!(
            message.contains("relay.routes.\"example.org\""),
            "{message}"
        );
        assert!(message.contains("smtp://"), "{message}");
    }
}
