//! Library users' checks: a [`Validator`] with a hook at each stage of a session.
//!
//! Each hook returns `Ok(())` to go on or `Err(reply)` to refuse with that reply (as
//! python-slimta's `SmtpValidators` do). The edge's own rules (syntax, relay control, limits)
//! run first; a hook sees only what they accepted.

use std::net::SocketAddr;

use async_trait::async_trait;
use envoi_types::{Address, Envelope, Reply, Sender, TlsInfo};

/// What is known about the client at a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The client's forward-confirmed host name, when a [`crate::ReverseDns`] found one.
    pub client_name: Option<String>,
    /// The name given in EHLO/HELO, once given.
    pub helo: Option<String>,
    /// True after EHLO (as opposed to HELO).
    pub esmtp: bool,
    /// True once the connection is encrypted.
    pub tls: bool,
    /// The negotiated TLS version and cipher suite, once the connection is encrypted.
    pub tls_session: Option<TlsInfo>,
    /// The authenticated identity, if the client authenticated.
    pub auth: Option<String>,
}

/// Checks a library user adds to each stage; every hook defaults to accepting.
#[async_trait]
pub trait Validator: Send + Sync + 'static {
    /// On connect, before the banner. An `Err` reply replaces the banner and the connection
    /// closes.
    async fn connect(&self, _session: &SessionInfo) -> Result<(), Reply> {
        Ok(())
    }

    /// On EHLO/HELO with the name given.
    async fn ehlo(&self, _session: &SessionInfo, _name: &str) -> Result<(), Reply> {
        Ok(())
    }

    /// On MAIL with the parsed reverse path.
    async fn mail(&self, _session: &SessionInfo, _sender: &Sender) -> Result<(), Reply> {
        Ok(())
    }

    /// On RCPT with the parsed forward path, after relay control accepted it.
    async fn rcpt(&self, _session: &SessionInfo, _recipient: &Address) -> Result<(), Reply> {
        Ok(())
    }

    /// When the data is complete, before the hand-off (Received header already prepended).
    async fn data(&self, _session: &SessionInfo, _envelope: &Envelope) -> Result<(), Reply> {
        Ok(())
    }
}

/// The validator that accepts everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl Validator for AcceptAll {}
