//! One SMTP session: its state and the loop that drives it.
//!
//! # Layout
//! - [`state`]: the explicit state enum, the open transaction and where an AUTH exchange stands.
//! - `run`: the loop over commands: replies, the error limit, refusal logging, STARTTLS.
//! - `conn`: the socket and buffers: flushing, reading lines, DATA and BDAT content.
//! - `deadline`: the command, transfer and session deadlines, as plain arithmetic.
//!
//! The verbs (in `crate::verbs`) take a `&mut Session`, change its state and say what reply
//! to send and what the loop must do next ([`Step`]).

pub(crate) mod conn;
mod deadline;
pub(crate) mod run;
pub mod state;

use std::sync::Arc;

use crate::body::ChunkedBody;
use crate::events::Tally;
use crate::memory::Held;
use crate::replies::Response;
use crate::shared::Shared;
use crate::validate::SessionInfo;
use state::{AuthExchange, State};

/// The part of a session that outlives single commands.
pub(crate) struct Session {
    /// Configuration and collaborators, shared by every session of a server.
    pub shared: Arc<Shared>,
    /// What validators may see about the client.
    pub info: SessionInfo,
    /// Where the session is in the command sequence.
    pub state: State,
    /// Message memory reserved from the server's budget for the open transaction.
    pub held: Held,
    /// The content of a BDAT message between its chunks; dropped (with what it staged) when
    /// the transaction ends.
    pub chunked: Option<ChunkedBody>,
    /// Commands, messages and errors so far.
    pub tally: Tally,
    /// Recipients refused in the open transaction.
    pub refused_recipients: usize,
    /// When the open transaction's MAIL was accepted, for the transaction latency histogram.
    pub mail_at: Option<tokio::time::Instant>,
}

impl Session {
    /// The protocol keyword for the Received header (RFC 3848, RFC 6531 §3.7.3).
    pub fn protocol(&self, smtputf8: bool) -> String {
        let base = match (self.info.esmtp, smtputf8) {
            (_, true) => "UTF8SMTP",
            (true, false) => "ESMTP",
            (false, false) => "SMTP",
        };
        let mut keyword = base.to_owned();
        if self.info.esmtp || smtputf8 {
            if self.info.tls {
                keyword.push('S');
            }
            if self.info.auth.is_some() {
                keyword.push('A');
            }
        }
        keyword
    }

    /// True when AUTH is offered on this connection now.
    pub fn auth_offered(&self) -> bool {
        self.shared.authenticator.is_some()
            && (self.info.tls || self.shared.config.auth.allow_plaintext)
    }
}

/// What the loop does after a verb.
#[derive(Debug)]
pub(crate) enum Next {
    /// Read the next command.
    Continue,
    /// Send the reply and close.
    Close,
    /// Send the reply, drop buffered input, and run the TLS handshake.
    StartTls,
    /// Read a DATA body.
    ReadData,
    /// Read a BDAT chunk of `size` octets; keep it for the transaction, or discard it and send
    /// the given reply (the bytes are read either way so they never become commands).
    ReadChunk {
        /// Octets in the chunk.
        size: u64,
        /// The chunk is the last.
        last: bool,
        /// `None`: keep the chunk; `Some(reply)`: discard it, then send `reply`.
        refuse: Option<Response>,
    },
    /// Read an AUTH continuation line.
    Auth(AuthExchange),
}

/// A verb's answer: an optional reply (BDAT replies after its chunk) and the next move.
#[derive(Debug)]
pub(crate) struct Step {
    /// The reply to queue now.
    pub response: Option<Response>,
    /// What the loop does next.
    pub next: Next,
}

impl Step {
    /// Reply and read the next command.
    pub fn reply(response: Response) -> Self {
        Self {
            response: Some(response),
            next: Next::Continue,
        }
    }

    /// Reply, then do `next`.
    pub fn then(response: Response, next: Next) -> Self {
        Self {
            response: Some(response),
            next,
        }
    }
}
