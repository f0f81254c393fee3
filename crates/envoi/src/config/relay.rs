//! `[relay]`: smarthost, routes and LMTP targets, MX and DNS, TLS policy, timeouts, limits.
//!
//! The MX port, the connection limits, `[relay.timeouts]` and the TLS policy names are the
//! relay's own structs ([`RelayConfig`], [`PoolConfig`], [`Timeouts`], [`TlsPolicy`]); their
//! defaults are the relay's. `RelayConfig` and `PoolConfig` are read from keys of this table
//! (see [`super::table`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use envoi_relay::{MtaStsConfig, NextHop, PoolConfig, RelayConfig, Timeouts, TlsPolicy};
use serde::{Deserialize, Serialize};

use super::queue::{check_destination_name, check_rate};
use super::table::{to_table, Embeds};

/// `[relay]`. Without `smarthost`, mail goes by MX (routes first).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySection {
    /// Everything not routed goes here: `smtp://host:port`, `lmtp://host:port`, `lmtp:/socket`.
    pub smarthost: Option<String>,
    /// AUTH user for the smarthost.
    pub smarthost_user: Option<String>,
    /// AUTH password for the smarthost.
    #[serde(serialize_with = "super::show::redact_option")]
    pub smarthost_password: Option<String>,
    /// Domain → next hops tried in order (same forms as `smarthost`), checked before MX.
    #[serde(default)]
    pub routes: BTreeMap<String, Vec<String>>,
    /// DNS servers for MX lookups; default: the system's (/etc/resolv.conf).
    #[serde(default)]
    pub dns: Vec<SocketAddr>,
    /// The relay's settings (the MX port); each field it deserialises is a key of this table.
    #[serde(skip)]
    pub settings: RelayConfig,
    /// Name sent in EHLO (default: the hostname).
    pub helo_name: Option<String>,
    /// Default STARTTLS policy: "none", "opportunistic" (default), "required".
    #[serde(default)]
    pub tls: TlsPolicy,
    /// STARTTLS policy per recipient domain.
    #[serde(default)]
    pub tls_domains: BTreeMap<String, TlsPolicy>,
    /// Extra trusted CA certificates (PEM files), e.g. a private smarthost's CA.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    /// DANE (RFC 7672) for MX delivery: default on when `dnssec_trust_anchors` are given.
    pub dane: Option<bool>,
    /// DNSSEC trust anchors for DANE: files of DNSKEY/DS records in zone-file text (e.g. the
    /// root's, as `unbound-anchor` keeps it in /usr/share/dns/root.key).
    #[serde(default)]
    pub dnssec_trust_anchors: Vec<PathBuf>,
    /// `[relay.timeouts]`: per-stage timeouts (RFC 5321 §4.5.3.2 defaults).
    #[serde(default)]
    pub timeouts: Timeouts,
    /// `[relay.mta_sts]`: MTA-STS (RFC 8461) for MX delivery, on by default; its cache
    /// directory defaults to `mta-sts` inside the spool directory (`storage.path`).
    #[serde(default)]
    pub mta_sts: MtaStsConfig,
    /// Connection reuse and limits; each field it deserialises is a key of this table.
    #[serde(skip)]
    pub pool: PoolConfig,
    /// Idle connections kept for reuse per destination (default: as many as may be open, that
    /// is `max_connections_per_destination`).
    pub max_idle_per_destination: Option<usize>,
}

impl Embeds for RelaySection {
    type Parts = (RelayConfig, PoolConfig);

    fn with_parts(self, (settings, pool): Self::Parts) -> Self {
        Self {
            settings,
            pool,
            ..self
        }
    }

    fn part_tables(&self) -> Result<Vec<toml::Table>, String> {
        Ok(vec![to_table(&self.settings)?, to_table(&self.pool)?])
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
        if self.dane == Some(true) && self.dnssec_trust_anchors.is_empty() {
            return Err("relay.dane = true needs relay.dnssec_trust_anchors".into());
        }
        if self.mta_sts.fetch_timeout.is_zero() {
            return Err("relay.mta_sts.fetch_timeout must be more than 0".into());
        }
        self.validate_connection_limits()
    }

    /// `connections_per_second` and `[relay.destinations."NAME"]`.
    fn validate_connection_limits(&self) -> Result<(), String> {
        check_rate(
            "relay.connections_per_second",
            self.pool.connections_per_second,
        )?;
        for (name, own) in &self.pool.destinations {
            let key = format!("relay.destinations.{name:?}");
            check_destination_name(&key, name)?;
            if own.max_messages_per_connection == Some(0) {
                return Err(format!(
                    "{key}.max_messages_per_connection must be at least 1"
                ));
            }
            check_rate(
                &format!("{key}.connections_per_second"),
                own.connections_per_second,
            )?;
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

    #[test]
    fn connection_limits_are_checked_and_named() {
        let mut section = RelaySection::default();
        section.pool.connections_per_second = Some(-1.0);
        let message = section.validate().unwrap_err();
        assert!(
            message.contains("relay.connections_per_second"),
            "{message}"
        );
        section.pool.connections_per_second = Some(2.0);
        let own = envoi_relay::ConnectionLimits {
            max_messages_per_connection: Some(0),
            connections_per_second: None,
        };
        section.pool.destinations.insert("slow.example".into(), own);
        let message = section.validate().unwrap_err();
        assert_eq!(
            message,
            "relay.destinations.\"slow.example\".max_messages_per_connection must be at least 1"
        );
        let own = envoi_relay::ConnectionLimits {
            max_messages_per_connection: Some(5),
            connections_per_second: Some(f64::NAN),
        };
        section.pool.destinations.insert("slow.example".into(), own);
        let message = section.validate().unwrap_err();
        assert!(message.contains("connections_per_second"), "{message}");
        section.pool.destinations.clear();
        assert_eq!(section.validate(), Ok(()));
    }
}
