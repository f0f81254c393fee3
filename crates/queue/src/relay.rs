//! The relay contract: one delivery attempt of one envelope.

use std::time::Duration;

use async_trait::async_trait;
use envoi_types::{Address, Envelope, Reply, TlsReport};

use crate::bounce::Action;
use crate::destination::Destination;

/// Who wrote a reply: it decides how a bounce reports it (an `smtp` diagnostic is only ever
/// the remote host's own words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyOrigin {
    /// The remote host sent it (possibly with its code moved to another class, as RFC 5321
    /// asks for `552` at RCPT).
    Remote,
    /// The relay or the queue made it: DNS, a refused or broken connection, a timeout, TLS, a
    /// limit checked before sending, expiry, retries given up.
    Local,
}

/// Where one attempt's time went inside the relay, for the log's delay breakdown (Postfix's
/// `delays=`): a relay reports it with each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timings {
    /// From the relay being called to its starting on this recipient's next hop: waiting for
    /// a slot among the next hops delivered in parallel.
    pub waited: Duration,
    /// Opening a session: DNS, waiting for the destination's connection rate or limit, TCP
    /// connect, greeting, EHLO, TLS and AUTH, over every host tried (a pooled connection's
    /// RSET when one is reused).
    pub connection: Duration,
    /// The transaction over the open session: MAIL to the final reply of DATA; zero when no
    /// session opened.
    pub transfer: Duration,
}

impl Timings {
    /// Timings from their three parts.
    pub fn new(waited: Duration, connection: Duration, transfer: Duration) -> Self {
        Self {
            waited,
            connection,
            transfer,
        }
    }
}

/// One reply about a delivery, with the host that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// The reply (a relay turns network trouble into a reply too, e.g. `451 4.4.1`).
    pub reply: Reply,
    /// The next hop the reply is about: the host that answered, or the one that could not be
    /// reached; `None` when no host was involved (DNS).
    pub remote_host: Option<String>,
    /// Who wrote `reply`.
    pub origin: ReplyOrigin,
    /// No host of the recipient's destination could be connected to (refused, timed out):
    /// the queue backs the destination off and does not count the attempt. Set it only with
    /// a transient reply.
    pub unreachable: bool,
    /// For a `2xx`: the report owed to a recipient whose sender asked for one on success
    /// (`NOTIFY=SUCCESS`) because the next hop will not send it: [`Action::Relayed`] to a
    /// hop without DSN, [`Action::Delivered`] for a final delivery (LMTP). `None` when the
    /// next hop took the parameters on (it offers DSN), or the relay cannot tell.
    pub success_action: Option<Action>,
    /// Where the attempt's time went for this recipient; `None` when the relay does not say
    /// (the log then counts the whole relay call as transfer).
    pub timings: Option<Timings>,
    /// How the session that carried the transaction was protected; `None` when no session
    /// carried it (or the relay does not say).
    pub tls: Option<TlsReport>,
}

impl Outcome {
    /// An outcome from a reply and an optional remote host: a reply with a host is that host's
    /// own ([`ReplyOrigin::Remote`]), one without is the relay's ([`ReplyOrigin::Local`]).
    pub fn new(reply: Reply, remote_host: Option<String>) -> Self {
        let origin = if remote_host.is_some() {
            ReplyOrigin::Remote
        } else {
            ReplyOrigin::Local
        };
        Self {
            reply,
            remote_host,
            origin,
            unreachable: false,
            success_action: None,
            timings: None,
            tls: None,
        }
    }

    /// The same outcome, owing `action` on success (see [`Outcome::success_action`]).
    pub fn with_success_action(mut self, action: Option<Action>) -> Self {
        self.success_action = action;
        self
    }

    /// The same outcome, with how its session was protected (see [`Outcome::tls`]).
    pub fn with_tls(mut self, tls: Option<TlsReport>) -> Self {
        self.tls = tls;
        self
    }

    /// The same outcome, with where its time went (see [`Outcome::timings`]).
    pub fn with_timings(mut self, timings: Timings) -> Self {
        self.timings = Some(timings);
        self
    }

    /// An outcome with every part given.
    pub fn with_origin(reply: Reply, remote_host: Option<String>, origin: ReplyOrigin) -> Self {
        Self {
            reply,
            remote_host,
            origin,
            unreachable: false,
            success_action: None,
            timings: None,
            tls: None,
        }
    }

    /// A transient reply the relay made because no host of the destination could be
    /// connected to (`remote_host`: the last one tried): see [`Outcome::unreachable`].
    pub fn unreachable(reply: Reply, remote_host: Option<String>) -> Self {
        Self {
            reply,
            remote_host,
            origin: ReplyOrigin::Local,
            unreachable: true,
            success_action: None,
            timings: None,
            tls: None,
        }
    }

    /// A reply the relay made itself, about `remote_host` when one was involved (a refused
    /// connection, say).
    pub fn local(reply: Reply, remote_host: Option<String>) -> Self {
        Self {
            reply,
            remote_host,
            origin: ReplyOrigin::Local,
            unreachable: false,
            success_action: None,
            timings: None,
            tls: None,
        }
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// One outcome for every recipient of the envelope.
    Whole(Outcome),
    /// One outcome per recipient, in the envelope's recipient order (same length).
    PerRecipient(Vec<Outcome>),
}

/// A failure inside a relay that it could not turn into a reply. The queue treats it, like a
/// panic, as a transient failure `450 4.0.0` for every recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relay failed: {0}")]
pub struct RelayError(pub String);

/// Something that attempts delivery of envelopes to their next hop.
///
/// The queue calls [`Relay::attempt`] with a copy of the envelope that holds only the
/// recipients still pending. Implementations decide nothing about retries: they report what
/// happened, the queue decides.
#[async_trait]
pub trait Relay: Send + Sync + 'static {
    /// Attempts delivery once. `attempt` is the number of earlier failed attempts.
    ///
    /// # Errors
    /// A [`RelayError`] when the relay cannot say anything meaningful; a relay should prefer
    /// returning a reply that says what went wrong.
    async fn attempt(&self, envelope: &Envelope, attempt: u32) -> Result<Delivery, RelayError>;

    /// The destination `recipient` is delivered to: the route or smarthost this relay will
    /// use for it, or its domain for MX delivery. The queue schedules, limits and backs off
    /// per destination; a message is scheduled under the destination of its first pending
    /// recipient (see the queue's docs). Must be cheap and must not wait (no DNS): it is
    /// asked on every enqueue and claim. Default: the recipient's domain.
    fn destination(&self, recipient: &Address) -> Destination {
        Destination::new(recipient.domain())
    }
}
