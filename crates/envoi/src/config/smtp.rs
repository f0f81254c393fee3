//! `[smtp]`: listeners, limits, timeouts, access control and AUTH users.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// `[smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    /// `[[smtp.listener]]` entries; default one plain listener on 127.0.0.1:2525.
    #[serde(default = "default_listeners", rename = "listener")]
    pub listeners: Vec<Listener>,
    /// Certificate chain (PEM) for STARTTLS and implicit-TLS listeners.
    pub certificate: Option<PathBuf>,
    /// Private key (PEM) for the certificate.
    pub key: Option<PathBuf>,
    /// Largest message in bytes (default 25 MiB).
    pub max_message_size: Option<usize>,
    /// Most recipients per transaction (default 100).
    pub max_recipients: Option<usize>,
    /// Most Received headers before the message is a loop (default 50).
    pub max_received_headers: Option<usize>,
    /// Most errors in one session before 421 (default 10).
    pub max_errors: Option<usize>,
    /// Most simultaneous connections (default 512).
    pub max_connections: Option<usize>,
    /// Most simultaneous connections per client IP (default 16).
    pub max_connections_per_ip: Option<usize>,
    /// Wait for a command (default 5m).
    #[serde(default, deserialize_with = "super::duration::option")]
    pub command_timeout: Option<Duration>,
    /// Wait for each read of message data (default 3m).
    #[serde(default, deserialize_with = "super::duration::option")]
    pub data_timeout: Option<Duration>,
    /// At shutdown, how long open transactions may finish before 421 (default 30s).
    #[serde(default, deserialize_with = "super::duration::option")]
    pub shutdown_grace: Option<Duration>,
    /// Domains envoi accepts mail for from anyone.
    #[serde(default)]
    pub receiving_domains: Vec<String>,
    /// Networks whose clients may relay anywhere (CIDR). Default: loopback only.
    #[serde(default = "default_trusted")]
    pub trusted_networks: Vec<String>,
    /// AUTH settings and users.
    #[serde(default)]
    pub auth: AuthSection,
}

/// `[[smtp.listener]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Address and port.
    pub address: SocketAddr,
    /// `"none"` (default), `"starttls"` (offered), `"implicit"` (TLS from the first byte).
    #[serde(default)]
    pub tls: ListenerTls,
}

/// TLS on a listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Offer AUTH without TLS too (default false).
    #[serde(default)]
    pub allow_plaintext: bool,
    /// `[[smtp.auth.user]]` entries.
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
}

/// One AUTH user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user name.
    pub name: String,
    /// An Argon2 PHC hash (`envoi config hash-password` makes one).
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
            max_message_size: None,
            max_recipients: None,
            max_received_headers: None,
            max_errors: None,
            max_connections: None,
            max_connections_per_ip: None,
            command_timeout: None,
            data_timeout: None,
            shutdown_grace: None,
            receiving_domains: Vec::new(),
            trusted_networks: default_trusted(),
            auth: AuthSection::default(),
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
