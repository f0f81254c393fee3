//! Queue errors and the one place they become SMTP replies.

use envoi_types::{EnhancedCode, QueueId, Reply};

use crate::storage::StorageError;

/// Why [`crate::Queue::enqueue`] did not accept a message. Nothing was kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// Storing failed; see the cause.
    #[error("message not stored: {0}")]
    Storage(#[from] StorageError),
    /// The queue is shutting down and accepts nothing new.
    #[error("queue is shutting down")]
    ShuttingDown,
}

impl EnqueueError {
    /// The reply an SMTP edge gives for this error: `452 4.3.1` when storage is full,
    /// `451 4.3.0` otherwise (never 5xx: the client should try again).
    pub fn reply(&self) -> Reply {
        match self {
            Self::Storage(StorageError::Full(_)) => Reply::new(
                452,
                EnhancedCode::new(4, 3, 1),
                "Insufficient system storage, try again later",
            ),
            Self::ShuttingDown => Reply::new(
                421,
                EnhancedCode::new(4, 3, 2),
                "Service shutting down, try again later",
            ),
            Self::Storage(_) => Reply::new(
                451,
                EnhancedCode::new(4, 3, 0),
                "Local error in processing, try again later",
            ),
        }
    }
}

/// Why an administrative queue operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No message with this id is queued.
    #[error("no message {0} in the queue")]
    NotFound(QueueId),
    /// The message is being attempted right now; try again when the attempt ends.
    #[error("message {0} is being delivered right now")]
    InFlight(QueueId),
    /// The message is held; release it first.
    #[error("message {0} is held")]
    Held(QueueId),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Not a destination name (empty, or with white space or control characters).
    #[error("{0:?} is not a destination name (a domain or a route name)")]
    InvalidDestination(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_id_is_a_local_error_to_the_client() {
        let error = EnqueueError::Storage(StorageError::DuplicateId(QueueId::new()));
        assert!(
            error.reply().to_string().starts_with("451 4.3.0 "),
            "{}",
            error.reply()
        );
        let full = EnqueueError::Storage(StorageError::Full("quota".into()));
        assert!(full.reply().to_string().starts_with("452 4.3.1 "));
    }
}
