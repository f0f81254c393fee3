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

/// Parses `smtp://host:port`, `lmtp://host:port` or `lmtp:/path/to/socket`.
pub fn parse_hop(text: &str) -> Result<NextHop, String> {
    let bad = || {
        format!("invalid next hop {text:?}: expected smtp://HOST:PORT, lmtp://HOST:PORT or lmtp:/SOCKET")
    };
    if let Some(rest) = text.strip_prefix("smtp://") {
        let (host, port) = host_port(rest, 25).ok_or_else(bad)?;
        return Ok(NextHop::smtp(host, port));
    }
    if let Some(rest) = text.strip_prefix("lmtp://") {
        let (host, port) = host_port(rest, 24).ok_or_else(bad)?;
        return Ok(NextHop::lmtp_tcp(host, port));
    }
    if let Some(path) = text.strip_prefix("lmtp:") {
        if path.starts_with('/') {
            return Ok(NextHop::lmtp_unix(path));
        }
    }
    Err(bad())
}

fn host_port(text: &str, default_port: u16) -> Option<(String, u16)> {
    let text = text.trim_end_matches('/');
    if let Some(v6) = text.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if rest.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host.to_owned(), port.parse().ok()?)),
        Some(_) => None,
        None if !text.is_empty() => Some((text.to_owned(), default_port)),
        None => None,
    }
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
    use envoi_relay::{Endpoint, Protocol};

    #[test]
    fn parses_next_hops() {
        let hop = parse_hop("smtp://127.0.0.1:2526").unwrap();
        assert_eq!(hop.protocol, Protocol::Smtp);
        assert_eq!(
            hop.endpoint,
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 2526
            }
        );
        let hop = parse_hop("smtp://mail.example.org").unwrap();
        assert_eq!(
            hop.endpoint,
            Endpoint::Tcp {
                host: "mail.example.org".into(),
                port: 25
            }
        );
        let hop = parse_hop("smtp://[::1]:25").unwrap();
        assert_eq!(
            hop.endpoint,
            Endpoint::Tcp {
                host: "::1".into(),
                port: 25
            }
        );
        let hop = parse_hop("lmtp:/run/dovecot/lmtp").unwrap();
        assert_eq!(hop.protocol, Protocol::Lmtp);
        assert!(parse_hop("http://x")
            .unwrap_err()
            .contains("smtp://HOST:PORT"));
        assert!(parse_hop("smtp://host:notaport").is_err());
    }
}
