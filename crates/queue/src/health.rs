//! Whether the queue can take new mail: what the edge asks before it reads a body, and what
//! `/healthz` and the metrics report.
//!
//! The queue stops accepting while some attempt's outcome cannot be stored: the relay has
//! already acted on it, so the outcome is kept in memory and committing it is retried (see
//! `queue/attempt.rs`); delivery pauses meanwhile. Storing new mail would fail the same way.

use envoi_types::{EnhancedCode, Reply};

use crate::storage::StorageError;

/// Whether the queue takes new mail, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acceptance {
    /// Storage works: new mail is welcome.
    Accepting,
    /// Storage is full: the edge answers `452 4.3.1`.
    StorageFull {
        /// What failed, fit to show an operator.
        reason: String,
    },
    /// Storage fails: the edge answers `451 4.3.0`.
    StorageFailing {
        /// What failed, fit to show an operator.
        reason: String,
    },
}

impl Acceptance {
    /// The state for an outcome that could not be stored because of `error`.
    pub(crate) fn from_error(error: &StorageError, uncommitted: usize) -> Self {
        let reason = format!("{uncommitted} attempt outcome(s) not yet stored: {error}");
        match error {
            StorageError::Full(_) => Self::StorageFull { reason },
            _ => Self::StorageFailing { reason },
        }
    }

    /// True when new mail is welcome.
    pub fn is_accepting(&self) -> bool {
        matches!(self, Self::Accepting)
    }

    /// Why mail is refused, when it is.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Accepting => None,
            Self::StorageFull { reason } | Self::StorageFailing { reason } => Some(reason),
        }
    }

    /// The short name the metrics use: `accepting`, `full` or `failing`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Accepting => "accepting",
            Self::StorageFull { .. } => "full",
            Self::StorageFailing { .. } => "failing",
        }
    }

    /// The reply an SMTP edge gives at `MAIL` (and `DATA`, `BDAT`) instead of taking a
    /// message: `452 4.3.1` when full, `451 4.3.0` when failing; `None` when accepting. The
    /// same replies as [`crate::EnqueueError::reply`] for the same causes.
    pub fn reply(&self) -> Option<Reply> {
        match self {
            Self::Accepting => None,
            Self::StorageFull { .. } => Some(Reply::new(
                452,
                EnhancedCode::new(4, 3, 1),
                "Insufficient system storage, try again later",
            )),
            Self::StorageFailing { .. } => Some(Reply::new(
                451,
                EnhancedCode::new(4, 3, 0),
                "Local error in processing, try again later",
            )),
        }
    }
}
