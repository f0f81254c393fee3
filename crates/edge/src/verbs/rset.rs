//! RSET (RFC 5321 §4.1.1.5): abort the transaction, keep the greeting.

use crate::replies;
use crate::session::{Session, Step};

/// Drops any open transaction.
pub(crate) fn rset(session: &mut Session) -> Step {
    session.state.reset();
    Step::reply(replies::ok())
}
