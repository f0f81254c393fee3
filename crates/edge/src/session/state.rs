//! The session's state, an explicit enum: which commands are in sequence is read off it.

use envoi_types::{Address, BodyType, DsnRequest, Sender};

/// One mail transaction in progress: MAIL accepted, maybe recipients and BDAT chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The reverse path from MAIL.
    pub sender: Sender,
    /// Accepted forward paths, in order.
    pub recipients: Vec<Address>,
    /// True when MAIL carried SMTPUTF8 (UTF-8 addresses allowed).
    pub smtputf8: bool,
    /// The `BODY=` MAIL carried.
    pub body: BodyType,
    /// The DSN parameters of MAIL (`RET`, `ENVID`) and of each accepted RCPT (RFC 3461).
    pub dsn: DsnRequest,
    /// Octets of BDAT content received so far (the content itself streams on, see
    /// `crate::body`).
    pub chunked: u64,
}

impl Transaction {
    /// A transaction for this sender, with no recipients yet.
    pub fn new(sender: Sender, smtputf8: bool) -> Self {
        Self {
            sender,
            recipients: Vec::new(),
            smtputf8,
            body: BodyType::Undeclared,
            dsn: DsnRequest::default(),
            chunked: 0,
        }
    }
}

/// Where the session is in RFC 5321's command sequence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum State {
    /// Connected (or just after STARTTLS): EHLO/HELO is needed before mail.
    #[default]
    Connected,
    /// Greeted, no transaction open.
    Greeted,
    /// MAIL accepted, no recipient yet.
    Mail(Transaction),
    /// At least one recipient accepted: DATA or BDAT may follow.
    Rcpt(Transaction),
    /// BDAT chunks are arriving; only BDAT, RSET, NOOP, QUIT fit now.
    Chunking(Transaction),
}

impl State {
    /// True when no transaction is open: the session may be closed without losing a message.
    pub fn is_idle(&self) -> bool {
        matches!(self, Self::Connected | Self::Greeted)
    }

    /// The state after RSET (RFC 5321 §4.1.1.5): the transaction goes, the greeting stays.
    pub fn reset(&mut self) {
        if !matches!(self, Self::Connected) {
            *self = Self::Greeted;
        }
    }

    /// Takes the open transaction, leaving the session greeted.
    pub fn take_transaction(&mut self) -> Option<Transaction> {
        match std::mem::replace(self, Self::Greeted) {
            Self::Mail(t) | Self::Rcpt(t) | Self::Chunking(t) => Some(t),
            other => {
                *self = other;
                None
            }
        }
    }
}

/// Where a multi-step AUTH exchange stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthExchange {
    /// PLAIN without initial response: waiting for it.
    Plain,
    /// LOGIN: waiting for the user name.
    LoginUser,
    /// LOGIN: waiting for the password.
    LoginPassword {
        /// The user name given.
        user: String,
    },
}
