//! Answers of the operations that change the queue.

use envoi_types::QueueId;
use serde::{Deserialize, Serialize};

/// An operation on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `POST /v1/messages/{id}/retry`: due now, attempt count unchanged.
    Retry,
    /// `POST /v1/messages/{id}/hold`: never attempted until released (still expires).
    Hold,
    /// `POST /v1/messages/{id}/release`: due again at its stored next-attempt time.
    Release,
    /// `DELETE /v1/messages/{id}`: removed without a bounce.
    Delete,
    /// `POST /v1/messages/{id}/bounce`: every pending recipient fails now; the sender gets a
    /// bounce.
    Bounce,
}

impl Action {
    /// The name used in URLs and JSON: `retry`, `hold`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Hold => "hold",
            Self::Release => "release",
            Self::Delete => "delete",
            Self::Bounce => "bounce",
        }
    }

    /// The action named `name` (as [`Action::name`] gives it).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Retry,
            Self::Hold,
            Self::Release,
            Self::Delete,
            Self::Bounce,
        ]
        .into_iter()
        .find(|action| action.name() == name)
    }

    /// Whether the operation loses the message (deleted, or bounced and removed).
    pub fn is_destructive(self) -> bool {
        matches!(self, Self::Delete | Self::Bounce)
    }

    /// What became of the message, for people: `held`, `deleted`, ...
    pub fn outcome(self) -> &'static str {
        match self {
            Self::Retry => "due for delivery now",
            Self::Hold => "held",
            Self::Release => "released",
            Self::Delete => "deleted",
            Self::Bounce => "bounced to its sender",
        }
    }
}

/// The answer of a successful operation on one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The message.
    pub id: QueueId,
    /// What was done to it.
    pub action: Action,
}

/// `POST /v1/flush`: how many messages became due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushResult {
    /// Messages made due now.
    pub flushed: u64,
    /// Matching messages left alone: held, being delivered right now, or gone meanwhile
    /// (always 0 for a flush of everything, which skips held messages without counting them).
    pub skipped: u64,
}
