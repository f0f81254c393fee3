//! Relay configuration: plain structs with defaults, built by the daemon and passed down.
//!
//! Nothing here reads files or the environment; the binary parses its own config and fills
//! these in. With the `serde` feature, [`RelayConfig`], [`Timeouts`], [`PoolConfig`] and
//! [`TlsPolicy`] deserialise from a configuration file's keys; a missing key keeps the field's
//! `Default`, so each default is written only here. Fields marked `serde(skip)` are not keys.
//!
//! # Layout
//! - [`RelayConfig`]: everything one relay needs.
//! - [`Timeouts`]: per-stage timeouts (RFC 5321 §4.5.3.2 defaults).
//! - [`PoolConfig`]: connection reuse, per-destination concurrency and dead-address memory;
//!   [`ConnectionLimits`]: one destination's messages per connection and connections per second.
//! - [`TlsSettings`]: STARTTLS policies by default and per domain, and trust anchors.
//! - MTA-STS settings are `crate::mta_sts`'s ([`MtaStsConfig`]).
//!
//! One next hop ([`NextHop`], [`TlsPolicy`]) is `crate::hop`'s; the route table is
//! `crate::routes`'.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use crate::dane::DaneSettings;
use crate::hop::{NextHop, TlsPolicy};
use crate::mta_sts::MtaStsConfig;
use crate::routes::RouteTable;

/// Per-stage timeouts of a client session.
///
/// Defaults are RFC 5321 §4.5.3.2's where it gives one; the others are stated on each field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Timeouts {
    /// One DNS lookup (MX, or A/AAAA), whatever the resolver's own timeouts: a resolver that
    /// hangs becomes a transient `4.4.3`. Not in RFC 5321; default 60 s.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub dns: Duration,
    /// TCP (or unix socket) connect. Not in RFC 5321; default 30 s, as Postfix.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub connect: Duration,
    /// The server's greeting: 5 min.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub banner: Duration,
    /// EHLO/HELO/LHLO, STARTTLS (including the handshake), AUTH, RSET and QUIT: 5 min.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub command: Duration,
    /// The reply to MAIL FROM: 5 min.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub mail: Duration,
    /// The reply to each RCPT TO: 5 min.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub rcpt: Duration,
    /// The `354` reply to DATA: 2 min.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub data: Duration,
    /// Each block of message data written: 3 min.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub data_block: Duration,
    /// The reply(ies) after the final dot: 10 min.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub final_dot: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60;
        Self {
            dns: Duration::from_secs(60),
            connect: Duration::from_secs(30),
            banner: Duration::from_secs(5 * MIN),
            command: Duration::from_secs(5 * MIN),
            mail: Duration::from_secs(5 * MIN),
            rcpt: Duration::from_secs(5 * MIN),
            data: Duration::from_secs(2 * MIN),
            data_block: Duration::from_secs(3 * MIN),
            final_dot: Duration::from_secs(10 * MIN),
        }
    }
}

impl Timeouts {
    /// Every stage with the same timeout (handy in tests).
    pub fn all(timeout: Duration) -> Self {
        Self {
            dns: timeout,
            connect: timeout,
            banner: timeout,
            command: timeout,
            mail: timeout,
            rcpt: timeout,
            data: timeout,
            data_block: timeout,
            final_dot: timeout,
        }
    }
}

/// Connection reuse and limits. The concurrency limit and the idle connections are per
/// address and port; messages per connection and connections per second are per
/// destination as the queue names it (a route key, `*` for the smarthost, or the MX domain),
/// with overrides in [`PoolConfig::destinations`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct PoolConfig {
    /// Messages sent over one connection before it is closed (1 disables reuse; 0 counts as
    /// 1).
    pub max_messages_per_connection: u32,
    /// New connections opened per second to one destination at most (default: no limit).
    /// Smooth: a token bucket holding one token, so no burst. Deliveries waiting for a
    /// connection keep their order, and take a connection put back meanwhile.
    pub connections_per_second: Option<f64>,
    /// Limits of named destinations (a domain, a route key, `*` for the smarthost), in place
    /// of the two above, field by field.
    pub destinations: BTreeMap<String, ConnectionLimits>,
    /// How long an idle connection is kept for reuse.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub idle_timeout: Duration,
    /// Idle connections kept per destination. As many as may be open by default: a burst of
    /// deliveries that ends together would otherwise close (and then reopen) the surplus.
    /// Not a serde key: that default follows `max_connections_per_destination`, so the caller
    /// sets it after reading both.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub max_idle_per_destination: usize,
    /// Open connections (busy or idle) per destination.
    pub max_connections_per_destination: usize,
    /// How long an address that could not be connected to is tried after the others of its
    /// host list; it doubles per further failure up to `dead_backoff_max`, and a successful
    /// connection clears it. It only orders addresses: when a destination is tried again is
    /// the queue's decision (its destination back-off).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub dead_backoff: Duration,
    /// Longest such memory of a dead address.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub dead_backoff_max: Duration,
    /// Recipients sent in one transaction before the rest go in a further one.
    pub max_recipients_per_transaction: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_messages_per_connection: 100,
            connections_per_second: None,
            destinations: BTreeMap::new(),
            idle_timeout: Duration::from_secs(30),
            max_idle_per_destination: 20,
            max_connections_per_destination: 20,
            dead_backoff: Duration::from_secs(60),
            dead_backoff_max: Duration::from_secs(30 * 60),
            max_recipients_per_transaction: 1000,
        }
    }
}

/// One destination's own connection limits; a field left out keeps the relay-wide value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct ConnectionLimits {
    /// In place of [`PoolConfig::max_messages_per_connection`].
    pub max_messages_per_connection: Option<u32>,
    /// In place of [`PoolConfig::connections_per_second`]; positive and finite.
    pub connections_per_second: Option<f64>,
}

/// TLS settings shared by every destination.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// Policy for destinations that have none of their own.
    pub default_policy: TlsPolicy,
    /// Policy per recipient domain (lower case) for MX delivery; routes carry their own.
    pub per_domain: HashMap<String, TlsPolicy>,
    /// Extra trust anchors (DER certificates) besides the bundled web PKI roots, e.g. a
    /// private CA of the smarthost, or a test CA.
    pub extra_roots: Vec<Vec<u8>>,
    /// When true, only `extra_roots` are trusted (no bundled roots).
    pub only_extra_roots: bool,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("default_policy", &self.default_policy)
            .field("per_domain", &self.per_domain)
            .field("extra_roots", &self.extra_roots.len())
            .field("only_extra_roots", &self.only_extra_roots)
            .finish()
    }
}

/// Everything a relay needs. Build with [`RelayConfig::default`] (MX delivery) and adjust
/// fields, or start from [`RelayConfig::smarthost`] / [`RelayConfig::lmtp`].
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct RelayConfig {
    /// The name sent in EHLO/HELO/LHLO.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub helo_name: String,
    /// Per-domain routes, checked first, and the fallback (MX or fixed hosts).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub routes: RouteTable,
    /// The port MX hosts are contacted on (25; tests use another).
    pub mx_port: u16,
    /// Per-stage timeouts. Not a key: a file states them in a table of their own.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub timeouts: Timeouts,
    /// Connection reuse and per-destination limits.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub pool: PoolConfig,
    /// STARTTLS policies and trust anchors.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub tls: TlsSettings,
    /// Octets kept of each reply line from a peer (the rest of a longer line is dropped, its
    /// code still counts): bounds memory.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub max_reply_line: usize,
    /// DANE (RFC 7672) for MX delivery: trust anchors, name servers, on or off.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub dane: DaneSettings,
    /// Next hops one attempt talks to at once (an envelope whose recipients span many domains
    /// is split into that many groups).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub max_parallel_next_hops: usize,
    /// MTA-STS for MX delivery. Not a key: a file states it in a table of its own.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub mta_sts: MtaStsConfig,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            helo_name: "localhost".to_owned(),
            routes: RouteTable::mx(),
            mx_port: 25,
            timeouts: Timeouts::default(),
            pool: PoolConfig::default(),
            tls: TlsSettings::default(),
            max_reply_line: 4096,
            max_parallel_next_hops: 8,
            dane: DaneSettings::default(),
            mta_sts: MtaStsConfig::default(),
        }
    }
}

impl RelayConfig {
    /// Everything to one smarthost (routes may still be added for chosen domains).
    pub fn smarthost(hop: NextHop) -> Self {
        Self {
            routes: RouteTable::fixed(vec![hop]),
            ..Self::default()
        }
    }

    /// Everything to one LMTP target.
    pub fn lmtp(hop: NextHop) -> Self {
        Self::smarthost(hop)
    }

    /// The TLS policy for a next hop (its own, or the domain's, or the default).
    pub(crate) fn tls_policy(&self, hop_policy: Option<TlsPolicy>, domain: &str) -> TlsPolicy {
        hop_policy
            .or_else(|| self.tls.per_domain.get(domain).copied())
            .unwrap_or(self.tls.default_policy)
    }
}
