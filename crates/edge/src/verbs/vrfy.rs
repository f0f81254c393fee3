//! VRFY (RFC 5321 §3.5.3): never reveals whether a mailbox exists.

use crate::replies;
use crate::session::Step;

/// Answers `252 2.0.0`.
pub(crate) fn vrfy() -> Step {
    Step::reply(replies::vrfy())
}
