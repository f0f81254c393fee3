//! Everything that can go wrong below the SMTP dialogue, and the one place it becomes a reply.
//!
//! Wire text stays bland (it ends up in bounces); the detail goes to the logs.
//!
//! # Layout
//! - [`Failure`]: the typed failure, as the client and resolver produce it.
//! - [`Failure::to_reply`]: the mapping to `Reply` (refused `4.4.1`, timeout `4.4.2`, DNS
//!   temporary `4.4.3`, TLS or MTA-STS `4.7.5`, peer gone mid-transaction `4.4.2`, ...).

use std::io;

use envoi_queue::ReplyOrigin;
use envoi_types::{EnhancedCode, Reply};

/// The stage of a session a timeout or error happened in, for logs and reply text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Opening the connection.
    Connect,
    /// Waiting for the greeting.
    Banner,
    /// EHLO, HELO or LHLO.
    Hello,
    /// STARTTLS and the TLS handshake.
    StartTls,
    /// AUTH.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA and its `354`.
    Data,
    /// Writing message data.
    DataBlock,
    /// The reply after the final dot.
    FinalDot,
    /// RSET or QUIT.
    Other,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Banner => "greeting",
            Self::Hello => "EHLO",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::Mail => "MAIL FROM",
            Self::Rcpt => "RCPT TO",
            Self::Data => "DATA",
            Self::DataBlock => "message data",
            Self::FinalDot => "end of data",
            Self::Other => "RSET/QUIT",
        }
    }
}

/// A failure that is not a reply from the peer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The connection could not be opened (refused, unreachable, or connect timed out).
    #[error("connection failed: {0}")]
    Connect(#[source] io::Error),
    /// No reply within the stage's timeout.
    #[error("timeout at {}", .0.name())]
    Timeout(Stage),
    /// The peer closed the connection or an I/O error broke it.
    #[error("connection lost at {stage:?}: {source}")]
    Lost {
        /// Where it happened.
        stage: Stage,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The peer sent something that is not an SMTP reply.
    #[error("malformed reply: {0}")]
    Protocol(String),
    /// The TLS handshake failed (including certificate verification).
    #[error("TLS failure: {0}")]
    Tls(String),
    /// TLS is required but the peer does not offer STARTTLS.
    #[error("TLS required but STARTTLS not offered")]
    TlsUnavailable,
    /// The recipient domain's MTA-STS policy (mode `enforce`) matches none of its MX hosts.
    #[error("no MX host matches the MTA-STS policy of {0}")]
    MtaStsNoMatch(String),
    /// DNS failed temporarily (SERVFAIL, timeout).
    #[error("temporary DNS failure: {0}")]
    DnsTemporary(String),
    /// The domain does not exist, or has neither MX nor address records.
    #[error("domain not found: {0}")]
    DnsNotFound(String),
    /// The domain publishes a null MX (RFC 7505): it accepts no mail.
    #[error("domain accepts no mail (null MX): {0}")]
    NullMx(String),
    /// The message needs SMTPUTF8 and the peer does not offer it.
    #[error("SMTPUTF8 needed but not offered")]
    NoSmtpUtf8,
    /// The message is larger than the peer's SIZE.
    #[error("message of {size} octets exceeds the peer's limit of {limit}")]
    TooBig {
        /// The message size on the wire.
        size: u64,
        /// The peer's SIZE.
        limit: u64,
    },
    /// AUTH is configured but the peer does not offer AUTH PLAIN.
    #[error("AUTH PLAIN not offered")]
    AuthUnavailable,
    /// A configuration problem (e.g. an invalid TLS server name).
    #[error("configuration: {0}")]
    Config(String),
    /// The message's stored body could not be read while it was being sent: the session was
    /// dropped before the final dot, so the peer got nothing.
    #[error("cannot read the message body: {0}")]
    BodyUnreadable(#[source] io::Error),
    /// The peer refused the session before any transaction (greeting, EHLO/HELO, STARTTLS,
    /// AUTH): its reply is kept as the outcome.
    #[error("session refused: {0}")]
    Peer(Reply),
}

impl Failure {
    /// The reply recorded for every recipient this failure hits. The one mapping.
    pub fn to_reply(&self) -> Reply {
        let (code, enhanced, text) = match self {
            Self::Connect(_) => (451, (4, 4, 1), "Connection to next hop failed".to_owned()),
            Self::Timeout(stage) => (
                451,
                (4, 4, 2),
                format!("Timeout waiting for next hop at {}", stage.name()),
            ),
            Self::Lost { stage, .. } => (
                451,
                (4, 4, 2),
                format!("Connection lost at {}", stage.name()),
            ),
            Self::Protocol(_) => (451, (4, 5, 0), "Malformed reply from next hop".to_owned()),
            Self::Tls(_) => (454, (4, 7, 5), "TLS negotiation failed".to_owned()),
            Self::TlsUnavailable => (
                454,
                (4, 7, 5),
                "TLS required but not offered by next hop".to_owned(),
            ),
            Self::MtaStsNoMatch(_) => (
                451,
                (4, 7, 5),
                "No MX host matches the recipient domain's MTA-STS policy".to_owned(),
            ),
            Self::DnsTemporary(_) => (451, (4, 4, 3), "Temporary DNS failure".to_owned()),
            Self::DnsNotFound(_) => (550, (5, 1, 2), "Recipient domain not found".to_owned()),
            Self::NullMx(_) => (
                556,
                (5, 1, 10),
                "Recipient domain accepts no mail (null MX)".to_owned(),
            ),
            Self::NoSmtpUtf8 => (
                553,
                (5, 6, 7),
                "Message needs SMTPUTF8, next hop does not support it".to_owned(),
            ),
            Self::TooBig { .. } => (552, (5, 3, 4), "Message too big for next hop".to_owned()),
            Self::AuthUnavailable => (
                454,
                (4, 7, 0),
                "Authentication not offered by next hop".to_owned(),
            ),
            Self::Config(_) => (451, (4, 3, 5), "Relay configuration error".to_owned()),
            Self::BodyUnreadable(_) => (451, (4, 3, 0), "Message body unreadable".to_owned()),
            // Only a refusal is an outcome: a session that never carried the message cannot
            // have delivered it, whatever the peer said (a `250` greeting, say).
            Self::Peer(reply) if reply.code >= 400 => return reply.clone(),
            Self::Peer(_) => (451, (4, 5, 0), "Unexpected reply from next hop".to_owned()),
        };
        Reply::new(
            code,
            EnhancedCode::new(enhanced.0, enhanced.1, enhanced.2),
            &text,
        )
    }

    /// Who wrote the reply [`Failure::to_reply`] gives: the peer for its own refusal, the
    /// relay for everything else.
    pub fn origin(&self) -> ReplyOrigin {
        match self {
            Self::Peer(reply) if reply.code >= 400 => ReplyOrigin::Remote,
            _ => ReplyOrigin::Local,
        }
    }

    /// True when no connection could be made (refused, unroutable, timed out): the host is
    /// unreachable, as opposed to one that answered.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Timeout(Stage::Connect))
    }

    /// True when trying the next host of the same destination makes sense.
    pub fn try_next_host(&self) -> bool {
        !matches!(
            self,
            Self::NoSmtpUtf8 | Self::TooBig { .. } | Self::DnsNotFound(_) | Self::NullMx(_)
        )
    }
}

/// Maps an I/O error during a stage: a failed connect or a broken connection.
pub(crate) fn io_failure(stage: Stage, error: io::Error) -> Failure {
    match stage {
        Stage::Connect => Failure::Connect(error),
        _ => Failure::Lost {
            stage,
            source: error,
        },
    }
}

/// A peer's reply with the given code, keeping its enhanced code's subject and detail but moving
/// it to the code's class (e.g. `552 5.2.2` at RCPT becomes `452 4.2.2`).
pub(crate) fn with_code(reply: &Reply, code: u16) -> Reply {
    let class = u8::try_from(code / 100).unwrap_or(4);
    Reply {
        code,
        enhanced: EnhancedCode::new(class, reply.enhanced.subject, reply.enhanced.detail),
        lines: reply.lines.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_codes() {
        let refused = Failure::Connect(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.to_reply().enhanced.to_string(), "4.4.1");
        assert_eq!(
            Failure::Timeout(Stage::Rcpt)
                .to_reply()
                .enhanced
                .to_string(),
            "4.4.2"
        );
        assert_eq!(
            Failure::DnsTemporary("x".into())
                .to_reply()
                .enhanced
                .to_string(),
            "4.4.3"
        );
        assert_eq!(
            Failure::TlsUnavailable.to_reply().enhanced.to_string(),
            "4.7.5"
        );
        assert_eq!(
            Failure::NullMx("x".into()).to_reply().enhanced.to_string(),
            "5.1.10"
        );
        assert_eq!(
            Failure::DnsNotFound("x".into())
                .to_reply()
                .enhanced
                .to_string(),
            "5.1.2"
        );
        assert_eq!(Failure::NoSmtpUtf8.to_reply().enhanced.to_string(), "5.6.7");
        let r = with_code(
            &Reply::parse(b"552 5.2.2 full\r\n")
                .unwrap_or_else(|_| Reply::with_default_code(552, "")),
            452,
        );
        assert_eq!(r.to_string(), "452 4.2.2 full");
    }
}
