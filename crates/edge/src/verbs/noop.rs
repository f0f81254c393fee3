//! NOOP (RFC 5321 §4.1.1.9): any argument is ignored.

use crate::replies;
use crate::session::Step;

/// Answers `250 2.0.0`.
pub(crate) fn noop() -> Step {
    Step::reply(replies::ok())
}
