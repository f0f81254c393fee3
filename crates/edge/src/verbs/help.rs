//! HELP (RFC 5321 §4.1.1.8).

use crate::replies;
use crate::session::Step;

/// Answers `214 2.0.0` with the command list.
pub(crate) fn help() -> Step {
    Step::reply(replies::help())
}
