//! Textual forms of next hops and TLS policies, for the daemon's command line and config.
//!
//! - `smtp://host[:port]` (port 25 by default), with optional `user:password@` for AUTH;
//! - `lmtp://host:port`;
//! - `lmtp:/path/to/socket` or `unix:/path/to/socket` (LMTP on a unix socket);
//! - IPv6 literals in brackets: `smtp://[::1]:2525`.
//!
//! # Layout
//! - [`NextHop`]'s `FromStr` and [`ParseError`].
//! - [`TlsPolicy`]'s `FromStr`: `none`, `opportunistic` (or `may`), `required` (or `verify`).

use std::str::FromStr;

use crate::hop::{NextHop, TlsPolicy};

/// Why a next hop or policy string is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not one of the accepted schemes.
    #[error("unknown scheme in {0:?} (expected smtp://, lmtp://, lmtp:/path or unix:/path)")]
    Scheme(String),
    /// The host part is empty or malformed.
    #[error("invalid host in {0:?}")]
    Host(String),
    /// The port is not a number in 1..=65535.
    #[error("invalid port in {0:?}")]
    Port(String),
    /// LMTP over TCP needs an explicit port (there is no standard one).
    #[error("LMTP over TCP needs a port: {0:?}")]
    MissingPort(String),
    /// Not a known TLS policy.
    #[error("unknown TLS policy {0:?} (expected none, opportunistic or required)")]
    Policy(String),
}

impl FromStr for NextHop {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        for prefix in ["lmtp:", "unix:"] {
            if let Some(path) = text.strip_prefix(prefix) {
                if path.starts_with('/') && !path.starts_with("//") {
                    return Ok(Self::lmtp_unix(path));
                }
            }
        }
        let (lmtp, rest) = if let Some(rest) = text.strip_prefix("smtp://") {
            (false, rest)
        } else if let Some(rest) = text.strip_prefix("lmtp://") {
            (true, rest)
        } else {
            return Err(ParseError::Scheme(text.to_owned()));
        };
        let rest = rest.trim_end_matches('/');
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((creds, hostport)) => (Some(creds), hostport),
            None => (None, rest),
        };
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| ParseError::Host(text.to_owned()))?;
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| ParseError::Port(text.to_owned()))?,
            None if lmtp => return Err(ParseError::MissingPort(text.to_owned())),
            None => 25,
        };
        let mut hop = if lmtp {
            Self::lmtp_tcp(host, port)
        } else {
            Self::smtp(host, port)
        };
        if let Some(creds) = credentials {
            let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
            hop = hop.with_auth(user, password);
        }
        Ok(hop)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; the host keeps no brackets.
fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        return (!host.is_empty()).then_some((host, port));
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    (!host.is_empty() && !host.contains(['/', ' '])).then_some((host, port))
}

impl FromStr for TlsPolicy {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(Self::None),
            "opportunistic" | "may" => Ok(Self::Opportunistic),
            "required" | "verify" => Ok(Self::Required),
            _ => Err(ParseError::Policy(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hop::{Endpoint, Protocol};

    #[test]
    fn parses_next_hops() {
        let hop: NextHop = "smtp://relay.example:587".parse().unwrap();
        assert_eq!(hop, NextHop::smtp("relay.example", 587));
        assert_eq!(
            "smtp://mx.example".parse::<NextHop>().unwrap(),
            NextHop::smtp("mx.example", 25)
        );
        let hop: NextHop = "smtp://user:p%w@relay.example:2525".parse().unwrap();
        let auth = hop.auth.unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("user", "p%w")
        );
        let hop: NextHop = "smtp://[::1]:2525".parse().unwrap();
        assert_eq!(
            hop.endpoint,
            Endpoint::Tcp {
                host: "::1".into(),
                port: 2525
            }
        );
        let hop: NextHop = "lmtp://127.0.0.1:24".parse().unwrap();
        assert_eq!(hop.protocol, Protocol::Lmtp);
        let hop: NextHop = "unix:/run/dovecot/lmtp".parse().unwrap();
        assert_eq!(hop, NextHop::lmtp_unix("/run/dovecot/lmtp"));
        assert_eq!(
            "lmtp:/x".parse::<NextHop>().unwrap().protocol,
            Protocol::Lmtp
        );
    }

    #[test]
    fn rejects_bad_next_hops() {
        assert!(matches!(
            "http://x".parse::<NextHop>(),
            Err(ParseError::Scheme(_))
        ));
        assert!(matches!(
            "smtp://".parse::<NextHop>(),
            Err(ParseError::Host(_))
        ));
        assert!(matches!(
            "smtp://x:0".parse::<NextHop>(),
            Err(ParseError::Port(_))
        ));
        assert!(matches!(
            "smtp://x:99999".parse::<NextHop>(),
            Err(ParseError::Port(_))
        ));
        assert!(matches!(
            "lmtp://x".parse::<NextHop>(),
            Err(ParseError::MissingPort(_))
        ));
    }

    #[test]
    fn parses_policies() {
        assert_eq!("Required".parse::<TlsPolicy>(), Ok(TlsPolicy::Required));
        assert_eq!("may".parse::<TlsPolicy>(), Ok(TlsPolicy::Opportunistic));
        assert_eq!("none".parse::<TlsPolicy>(), Ok(TlsPolicy::None));
        assert!("sometimes".parse::<TlsPolicy>().is_err());
    }
}
