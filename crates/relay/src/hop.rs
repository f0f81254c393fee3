//! One configured next hop: where it listens, which protocol it speaks, its credentials and
//! its STARTTLS policy.
//!
//! The vocabulary both the route table (`crate::routes`) and the relay's configuration
//! (`crate::config`) are written in; it depends on neither.
//!
//! # Layout
//! - [`NextHop`]: a smarthost, a route entry or an LMTP target.
//! - [`Endpoint`], [`Protocol`], [`Credentials`], [`TlsPolicy`]: its parts.

use std::fmt;
use std::path::PathBuf;

/// Whether and how STARTTLS is used towards a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum TlsPolicy {
    /// Never STARTTLS.
    None,
    /// STARTTLS when the peer offers it, without certificate verification (RFC 7435
    /// opportunistic security); plain text otherwise.
    #[default]
    Opportunistic,
    /// STARTTLS is required and the certificate must verify for the host name; when that
    /// cannot be met the attempt fails with transient `4.7.5`.
    Required,
}

/// Which protocol a next hop speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// SMTP (RFC 5321): EHLO, falling back to HELO.
    Smtp,
    /// LMTP (RFC 2033): LHLO, one reply per recipient after DATA.
    Lmtp,
}

/// Where a next hop listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A host name or IP address and a port; names are resolved (A/AAAA) by the relay's
    /// resolver.
    Tcp {
        /// Host name or IP literal.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A unix domain socket (LMTP to a local delivery agent).
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Credentials for SMTP AUTH PLAIN (RFC 4954).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication identity.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password, whatever logs the config.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One configured next hop: a smarthost, a route entry or an LMTP target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    /// SMTP or LMTP.
    pub protocol: Protocol,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// AUTH credentials, sent when the peer offers AUTH PLAIN.
    pub auth: Option<Credentials>,
    /// STARTTLS policy; `None` means [`crate::config::TlsSettings::default_policy`].
    pub tls: Option<TlsPolicy>,
}

impl NextHop {
    /// An SMTP next hop at `host:port` with the default TLS policy and no AUTH.
    pub fn smtp(host: impl Into<String>, port: u16) -> Self {
        Self {
            protocol: Protocol::Smtp,
            endpoint: Endpoint::Tcp {
                host: host.into(),
                port,
            },
            auth: None,
            tls: None,
        }
    }

    /// An LMTP next hop at `host:port`.
    pub fn lmtp_tcp(host: impl Into<String>, port: u16) -> Self {
        Self {
            protocol: Protocol::Lmtp,
            ..Self::smtp(host, port)
        }
    }

    /// An LMTP next hop on a unix socket (never TLS).
    pub fn lmtp_unix(path: impl Into<PathBuf>) -> Self {
        Self {
            protocol: Protocol::Lmtp,
            endpoint: Endpoint::Unix(path.into()),
            auth: None,
            tls: Some(TlsPolicy::None),
        }
    }

    /// The same next hop with AUTH credentials.
    pub fn with_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(Credentials {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// The same next hop with its own TLS policy.
    pub fn with_tls(mut self, policy: TlsPolicy) -> Self {
        self.tls = Some(policy);
        self
    }
}
