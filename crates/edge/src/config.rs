//! The edge's configuration: plain data, built by the caller (the binary parses files).
//!
//! Every field has a default that is safe on the internet: no relaying except to the
//! receiving domains, AUTH only under TLS, bounded sizes, counts and times.
//!
//! With the `serde` feature, [`Limits`], [`Timeouts`] and [`AuthPolicy`] deserialise from the
//! keys of a configuration file; a missing key keeps the field's `Default`, so each default is
//! written only here. Fields marked `serde(skip)` are not configuration keys.

use std::time::Duration;

use crate::net::IpNet;
use crate::tls::TlsSettings;

/// Everything an SMTP server needs to know besides its collaborators.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// The name in the banner, EHLO reply and Received header.
    pub hostname: String,
    /// Sizes and counts.
    pub limits: Limits,
    /// How long the server waits for a client.
    pub timeouts: Timeouts,
    /// Domains the server accepts mail for from anyone (compared case-insensitively).
    pub receiving_domains: Vec<String>,
    /// Clients in these networks may relay to any domain.
    pub trusted_networks: Vec<IpNet>,
    /// Certificate and key for STARTTLS and implicit-TLS listeners; `None` disables TLS.
    pub tls: Option<TlsSettings>,
    /// When AUTH is offered.
    pub auth: AuthPolicy,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            receiving_domains: Vec::new(),
            trusted_networks: Vec::new(),
            tls: None,
            auth: AuthPolicy::default(),
        }
    }
}

impl EdgeConfig {
    /// The default configuration with this host name.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            ..Self::default()
        }
    }

    /// True when `domain` is one of the receiving domains.
    pub fn receives_for(&self, domain: &str) -> bool {
        self.receiving_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// Bounds on what one client may make the server hold or do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Limits {
    /// Largest accepted message in octets (advertised as SIZE).
    pub max_message_size: usize,
    /// Most recipients in one transaction (`452 4.5.3` past it).
    pub max_recipients: usize,
    /// Most Received headers before the message is taken for a loop (`554 5.4.6`).
    pub max_received_headers: usize,
    /// Most error replies in one session before `421` and close.
    pub max_errors: usize,
    /// Most simultaneous connections over all listeners of one server.
    pub max_connections: usize,
    /// Most simultaneous connections from one client: one IPv4 address, or one IPv6 /64
    /// (a single host commonly holds a whole /64).
    pub max_connections_per_ip: usize,
    /// Clients in the trusted networks are not held to `max_connections_per_ip` (as Postfix
    /// exempts `$mynetworks`); they still count toward `max_connections`.
    pub per_ip_limit_exempts_trusted: bool,
    /// Longest text line of a message in octets, CRLF included and the dot added for
    /// transparency not counted (RFC 5321 §4.5.3.1.6: 1000). A message with a longer line is
    /// refused whole with `554 5.6.0`.
    pub max_line_length: usize,
    /// Most message octets held in memory by all sessions of a server together; a message
    /// that finds no room is discarded with `452 4.3.1`. A session holds at most about
    /// 256 KiB of a message, whatever its size (a larger one streams to storage), so this
    /// bounds buffers, not messages.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub max_buffered_bytes: usize,
    /// Longest command line in octets, CRLF included (RFC 5321 §4.5.3.1.4: 512).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub max_command_line: usize,
    /// Longest AUTH line in octets (RFC 4954 §4: at least 12288).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub max_auth_line: usize,
    /// Most messages accepted in one session; the next MAIL gets `421 4.7.0` and the
    /// connection closes (bounds a client looping on one connection).
    pub max_messages_per_session: usize,
    /// Refused recipients one transaction may draw before each further refusal counts toward
    /// `max_errors` (as Postfix's `smtpd_recipient_overshoot_limit`): refusals are a normal
    /// part of a big transaction, an endless stream of them is not.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub max_refused_recipients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_received_headers: 50,
            max_errors: 10,
            max_connections: 512,
            max_connections_per_ip: 16,
            per_ip_limit_exempts_trusted: true,
            max_line_length: 1000,
            max_buffered_bytes: 512 * 1024 * 1024,
            max_command_line: 512,
            max_auth_line: 12288,
            max_messages_per_session: 1000,
            max_refused_recipients: 1000,
        }
    }
}

/// How long the server waits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Timeouts {
    /// For the first octet of the next command, and again from that octet to the command's
    /// CRLF: a deadline for the whole line, so a client dribbling one octet at a time cannot
    /// hold it open (RFC 5321 §4.5.3.2.7: at least 5 minutes).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "command_timeout", with = "envoi_types::duration")
    )]
    pub command: Duration,
    /// The budget of a DATA section or BDAT chunk (RFC 5321 §4.5.3.2.6: 3 minutes). It starts
    /// full, time spent waiting uses it up, and each octet received earns `1 / min_data_rate`
    /// seconds back, never above this value (Postfix's `smtpd_min_data_rate`). So a big
    /// message on a slow link passes and a trickle runs out.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "data_timeout", with = "envoi_types::duration")
    )]
    pub data: Duration,
    /// Octets per second a DATA or BDAT transfer must keep up on average to go on past
    /// `data`; 0 makes `data` a deadline for the whole transfer.
    pub min_data_rate: u64,
    /// Longest session, from connection to close, whatever the client does.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "session_timeout", with = "envoi_types::duration")
    )]
    pub session: Duration,
    /// For the TLS handshake.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub tls_handshake: Duration,
    /// For a write to the client to complete.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub write: Duration,
    /// After shutdown starts, how long an open transaction may run before `421`.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub shutdown_grace: Duration,
    /// For the client's name at connect (PTR and forward lookups together, with a
    /// [`crate::ReverseDns`]): past it the client is `unknown`, so a slow name server delays
    /// the greeting by this much at most.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "reverse_dns_timeout", with = "envoi_types::duration")
    )]
    pub reverse_dns: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_secs(300),
            data: Duration::from_secs(180),
            min_data_rate: 500,
            session: Duration::from_secs(3600),
            tls_handshake: Duration::from_secs(30),
            write: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            reverse_dns: Duration::from_secs(3),
        }
    }
}

/// When AUTH PLAIN and LOGIN are offered (only ever with an authenticator).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct AuthPolicy {
    /// Offer AUTH on connections without TLS too (passwords in the clear: off by default).
    pub allow_plaintext: bool,
}
