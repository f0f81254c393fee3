//! `[smtp]`: listeners, limits, timeouts, access control and AUTH users.
//!
//! The limits and timeouts are the edge's own structs ([`Limits`], [`Timeouts`]) read from
//! keys of this table (see [`super::table`]); their defaults are the edge's.

use std::net::SocketAddr;
use std::path::PathBuf;

use envoi_edge::{AuthPolicy, Limits, Timeouts};
use serde::{Deserialize, Serialize};

use super::table::{to_table, Embeds};

/// `[smtp]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    /// `[[smtp.listener]]` entries; default one plain listener on 127.0.0.1:2525.
    #[serde(default = "default_listeners", rename = "listener")]
    pub listeners: Vec<Listener>,
    /// Certificate chain (PEM) for STARTTLS and implicit-TLS listeners.
    pub certificate: Option<PathBuf>,
    /// Private key (PEM) for the certificate.
    pub key: Option<PathBuf>,
    /// Sizes and counts; each field the edge deserialises is a key of this table.
    #[serde(skip)]
    pub limits: Limits,
    /// Waits; each field the edge deserialises is a key of this table (`command_timeout`, ...).
    #[serde(skip)]
    pub timeouts: Timeouts,
    /// Domains envoi accepts mail for from anyone.
    #[serde(default)]
    pub receiving_domains: Vec<String>,
    /// Networks whose clients may relay anywhere (CIDR). Default: loopback only.
    #[serde(default = "default_trusted")]
    pub trusted_networks: Vec<String>,
    /// AUTH settings and users.
    #[serde(
        default,
        deserialize_with = "super::table::section",
        serialize_with = "super::table::serialize_section"
    )]
    pub auth: AuthSection,
    /// Look up each client's host name at connect (forward-confirmed, within
    /// `reverse_dns_timeout`) for the `connect` log line and the Received header, asking the
    /// relay's name servers. Default on; off, every client is `unknown`.
    #[serde(default = "default_reverse_dns")]
    pub reverse_dns: bool,
}

fn default_reverse_dns() -> bool {
    true
}

impl Embeds for SmtpSection {
    type Parts = (Limits, Timeouts);

    fn with_parts(self, (limits, timeouts): Self::Parts) -> Self {
        Self {
            limits,
            timeouts,
            ..self
        }
    }

    fn part_tables(&self) -> Result<Vec<toml::Table>, String> {
        Ok(vec![to_table(&self.limits)?, to_table(&self.timeouts)?])
    }
}

/// `[[smtp.listener]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Address and port.
    pub address: SocketAddr,
    /// `"none"` (default), `"starttls"` (offered), `"implicit"` (TLS from the first byte).
    #[serde(default)]
    pub tls: ListenerTls,
}

/// TLS on a listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerTls {
    /// Plain SMTP; STARTTLS is offered when a certificate is configured.
    #[default]
    None,
    /// Plain SMTP with STARTTLS (a certificate is required).
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
}

/// `[smtp.auth]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// When AUTH is offered (`allow_plaintext`, a key of this table).
    #[serde(skip)]
    pub policy: AuthPolicy,
    /// `[[smtp.auth.user]]` entries.
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
}

impl Embeds for AuthSection {
    type Parts = (AuthPolicy,);

    fn with_parts(self, (policy,): Self::Parts) -> Self {
        Self { policy, ..self }
    }

    fn part_tables(&self) -> Result<Vec<toml::Table>, String> {
        Ok(vec![to_table(&self.policy)?])
    }
}

/// One AUTH user.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user name.
    pub name: String,
    /// An Argon2 PHC hash (`envoi config hash-password` makes one).
    #[serde(serialize_with = "super::show::redact")]
    pub password_hash: String,
}

fn default_listeners() -> Vec<Listener> {
    vec![Listener {
        address: SocketAddr::from(([127, 0, 0, 1], 2525)),
        tls: ListenerTls::None,
    }]
}

fn default_trusted() -> Vec<String> {
    vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()]
}

impl Default for SmtpSection {
    fn default() -> Self {
        Self {
            listeners: default_listeners(),
            certificate: None,
            key: None,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            receiving_domains: Vec::new(),
            trusted_networks: default_trusted(),
            auth: AuthSection::default(),
            reverse_dns: default_reverse_dns(),
        }
    }
}

impl SmtpSection {
    pub(super) fn validate(&self) -> Result<(), String> {
        let needs_tls = self.listeners.iter().any(|l| l.tls != ListenerTls::None);
        if needs_tls && (self.certificate.is_none() || self.key.is_none()) {
            return Err(
                "smtp.listener with tls = \"starttls\" or \"implicit\" needs smtp.certificate and smtp.key"
                    .into(),
            );
        }
        if self.certificate.is_some() != self.key.is_some() {
            return Err("smtp.certificate and smtp.key go together".into());
        }
        for network in &self.trusted_networks {
            network
                .parse::<envoi_edge::IpNet>()
                .map_err(|e| format!("smtp.trusted_networks: {network:?}: {e}"))?;
        }
        for user in &self.auth.users {
            argon2::PasswordHash::new(&user.password_hash).map_err(|e| {
                format!(
                    "smtp.auth.user {:?}: password_hash is not an Argon2 PHC string: {e}",
                    user.name
                )
            })?;
        }
        if self.listeners.is_empty() {
            return Err("smtp.listener: at least one listener is needed".into());
        }
        Ok(())
    }
}
