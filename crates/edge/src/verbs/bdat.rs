//! BDAT (RFC 3030, CHUNKING): content in length-counted chunks, no dot-stuffing.
//!
//! A chunk's octets are always read, even when the command is refused, so they can never be
//! taken for commands. Content over the size limit is discarded unread-into-memory and the
//! transaction ends with `552 5.3.4`; later chunks of it get `503 5.5.1`. Kept content streams
//! on as it arrives (`crate::body`), checked by DATA's line rules on the way; at LAST a bare CR
//! or LF, or a line over the limit, refuses the message as a whole.

use std::sync::Arc;

use bytes::Bytes;

use crate::body::{ChunkedBody, SESSION_BUFFER};
use crate::replies::{self, Response};
use crate::session::state::State;
use crate::session::{Next, Session, Step};
use crate::verbs::data;

/// Decides, before the chunk is read, whether it will be kept.
pub(crate) fn bdat(session: &mut Session, size: u64, last: bool) -> Step {
    let limit = session.shared.config.limits.max_message_size as u64;
    let refuse = match &session.state {
        State::Rcpt(t) | State::Chunking(t) => {
            let total = t.chunked.saturating_add(size);
            // Asked at the first chunk, as DATA asks before its 354.
            let storage = match &session.state {
                State::Rcpt(_) => session.shared.handoff.accepting().err(),
                _ => None,
            };
            if let Some(reply) = storage {
                session.state.reset();
                Some(Response::reply(&reply))
            } else if total > limit {
                session.state.reset();
                Some(replies::too_big())
            } else if !session.shared.memory.reserve(
                &mut session.held,
                usize::try_from(total).map_or(SESSION_BUFFER, |t| t.min(SESSION_BUFFER)),
            ) {
                session.state.reset();
                Some(replies::memory_exhausted())
            } else {
                None
            }
        }
        State::Mail(_) => Some(replies::bad_sequence("Need RCPT before BDAT")),
        _ => Some(replies::bad_sequence("Need MAIL before BDAT")),
    };
    if refuse.is_some() {
        // Every refusal ended the transaction (or there was none): what it staged goes now.
        session.chunked = None;
    } else if matches!(session.state, State::Rcpt(_)) {
        let shared = &session.shared;
        session.chunked = Some(ChunkedBody::new(
            Arc::clone(&shared.handoff),
            shared.config.limits.max_message_size,
            shared.config.limits.max_line_length,
        ));
    }
    Step {
        response: None,
        next: Next::ReadChunk { size, last, refuse },
    }
}

/// A kept chunk of `size` octets has arrived (and gone to `session.chunked`); on LAST,
/// finish the message.
pub(crate) async fn chunk(session: &mut Session, size: u64, last: bool) -> Response {
    let state = std::mem::take(&mut session.state);
    session.state = match state {
        State::Rcpt(mut t) | State::Chunking(mut t) => {
            t.chunked = t.chunked.saturating_add(size);
            State::Chunking(t)
        }
        other => other,
    };
    if !last {
        return replies::chunk_ok(size);
    }
    let (State::Chunking(_), Some(body)) = (&session.state, session.chunked.take()) else {
        return replies::bad_sequence("No transaction");
    };
    // The content's lines follow the rules of DATA's (no bare CR or LF, bounded length): BODY
    // is 7BIT or 8BITMIME, BINARYMIME is not offered.
    let verdict = body.check.verdict().map(|()| Bytes::new());
    data::complete(session, verdict, body.writer).await
}
