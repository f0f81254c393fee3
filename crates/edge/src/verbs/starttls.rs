//! STARTTLS (RFC 3207).
//!
//! The loop, on [`Next::StartTls`], sends the 220, *discards every byte already buffered*
//! (plaintext pipelined behind STARTTLS must never run after the handshake: CVE-2011-0411),
//! runs the handshake, and resets the session to [`State::Connected`] so EHLO must come again.

use envoi_types::TlsInfo;

use crate::replies;
use crate::session::state::State;
use crate::session::{Next, Session, Step};

/// Starts TLS when it is configured, the connection is still plain and no transaction is open.
pub(crate) fn starttls(session: &mut Session) -> Step {
    if session.shared.tls.is_none() {
        return Step::reply(replies::tls_unavailable());
    }
    if session.info.tls {
        return Step::reply(replies::bad_sequence("TLS already active"));
    }
    match session.state {
        State::Connected => Step::reply(replies::bad_sequence("Send EHLO first")),
        State::Greeted => Step::then(replies::tls_ready(), Next::StartTls),
        _ => Step::reply(replies::bad_sequence(
            "STARTTLS not allowed during a transaction",
        )),
    }
}

/// Forgets everything learnt before the handshake (RFC 3207 §4.2), and records the session
/// it negotiated.
pub(crate) fn after_handshake(session: &mut Session, negotiated: TlsInfo) {
    session.state = State::Connected;
    session.info.tls = true;
    session.info.tls_session = Some(negotiated);
    session.info.helo = None;
    session.info.esmtp = false;
    session.info.auth = None;
}
