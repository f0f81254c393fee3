//! QUIT (RFC 5321 §4.1.1.10): answer, then close.

use crate::replies;
use crate::session::{Next, Session, Step};

/// Answers `221 2.0.0` and closes; an open transaction is abandoned.
pub(crate) fn quit(session: &mut Session) -> Step {
    session.state.reset();
    Step::then(replies::bye(&session.shared.config.hostname), Next::Close)
}
