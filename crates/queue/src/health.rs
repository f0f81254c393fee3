//! Whether the queue can take new mail: what the edge asks before it reads a body, and what
//! `/healthz` and the metrics report.
//!
//! The queue stops accepting, first reason first:
//! 1. while some attempt's outcome cannot be stored: the relay has already acted on it, so the
//!    outcome is kept in memory and committing it is retried (see `queue/attempt.rs`);
//!    delivery pauses meanwhile. Storing new mail would fail the same way;
//! 2. while the store reports itself full or failing ([`crate::Storage::health`]: a spool
//!    whose filesystem is nearly full), so that no client sends a body that cannot be kept;
//! 3. for [`FAILED_WRITE_HOLD`] after a write of new mail failed with an I/O error, unless a
//!    later write succeeds first.

use std::time::Duration;

use envoi_types::{EnhancedCode, Reply};
use tokio::time::Instant;

use crate::storage::{StorageError, StoreHealth};

/// How long a failed write of new mail keeps the queue refusing mail, unless a later write
/// succeeds first. Every `MAIL` is refused meanwhile, so no write could end the state; this
/// ends it. Long enough that a burst of clients is not each made to send a body the store will
/// refuse, short enough that a passing fault costs little.
pub const FAILED_WRITE_HOLD: Duration = Duration::from_secs(10);

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

    /// The state for what the store says of itself.
    pub(crate) fn from_store(health: StoreHealth) -> Self {
        match health {
            StoreHealth::Ok => Self::Accepting,
            StoreHealth::Full(reason) => Self::StorageFull { reason },
            StoreHealth::Failing(reason) => Self::StorageFailing { reason },
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

/// The last failed write of new mail, while it still refuses mail (see [`FAILED_WRITE_HOLD`]).
#[derive(Debug, Default)]
pub(crate) struct FailedWrite {
    last: Option<(Instant, String)>,
}

impl FailedWrite {
    /// Records a write's result. Only I/O errors count: `Full` is one message too large for
    /// what is left (the store's [`crate::Storage::health`] says when the store is full), a
    /// duplicate id is a caller's mistake, and `Unavailable` stops the daemon anyway.
    pub fn record(&mut self, result: Result<(), &StorageError>) {
        match result {
            Ok(()) => self.last = None,
            Err(StorageError::Io(detail)) => self.last = Some((Instant::now(), detail.clone())),
            Err(_) => {}
        }
    }

    /// Failing while the last write failed less than [`FAILED_WRITE_HOLD`] ago.
    pub fn acceptance(&self) -> Acceptance {
        match &self.last {
            Some((at, detail)) if at.elapsed() < FAILED_WRITE_HOLD => Acceptance::StorageFailing {
                reason: format!("the last write of new mail failed: {detail}"),
            },
            _ => Acceptance::Accepting,
        }
    }
}
