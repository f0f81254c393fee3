//! BDAT (RFC 3030, CHUNKING): content in length-counted chunks, no dot-stuffing.
//!
//! A chunk's octets are always read, even when the command is refused, so they can never be
//! taken for commands. Content over the size limit is discarded unread-into-memory and the
//! transaction ends with `552 5.3.4`; later chunks of it get `503 5.5.1`. At LAST the whole
//! content is checked as DATA's is: a bare CR or LF, or a line over the limit, refuses it.

use bytes::Bytes;

use crate::proto::data::check_text;
use crate::replies::{self, Response};
use crate::session::state::State;
use crate::session::{Next, Session, Step};
use crate::verbs::data;

/// Decides, before the chunk is read, whether it will be kept.
pub(crate) fn bdat(session: &mut Session, size: u64, last: bool) -> Step {
    let limit = session.shared.config.limits.max_message_size as u64;
    let refuse = match &session.state {
        State::Rcpt(t) | State::Chunking(t) => {
            let total = t.chunks.len() as u64 + size;
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
            } else if !session
                .shared
                .memory
                .reserve(&mut session.held, total as usize)
            {
                session.state.reset();
                Some(replies::memory_exhausted())
            } else {
                None
            }
        }
        State::Mail(_) => Some(replies::bad_sequence("Need RCPT before BDAT")),
        _ => Some(replies::bad_sequence("Need MAIL before BDAT")),
    };
    Step {
        response: None,
        next: Next::ReadChunk { size, last, refuse },
    }
}

/// A kept chunk has arrived: store it; on LAST, finish the message.
pub(crate) async fn chunk(session: &mut Session, bytes: Bytes, last: bool) -> Response {
    let state = std::mem::take(&mut session.state);
    let size = bytes.len() as u64;
    session.state = match state {
        State::Rcpt(mut t) | State::Chunking(mut t) => {
            t.chunks.extend_from_slice(&bytes);
            State::Chunking(t)
        }
        other => other,
    };
    if !last {
        return replies::chunk_ok(size);
    }
    let body = match &mut session.state {
        State::Chunking(t) => std::mem::take(&mut t.chunks).freeze(),
        _ => return replies::bad_sequence("No transaction"),
    };
    // The content's lines follow the rules of DATA's (no bare CR or LF, bounded length): BODY
    // is 7BIT or 8BITMIME, BINARYMIME is not offered.
    let checked = check_text(&body, session.shared.config.limits.max_line_length).map(|()| body);
    data::complete(session, checked).await
}
