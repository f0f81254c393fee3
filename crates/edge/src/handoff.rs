//! The one narrow call through which the edge hands envelopes to the queue.

use async_trait::async_trait;
use envoi_queue::EnqueueError;
use envoi_types::{Envelope, QueueId};

/// Takes responsibility for a received envelope.
///
/// The edge answers `250` only after [`Handoff::enqueue`] returns `Ok`, so an implementation
/// must return only once the envelope (every copy of it) is durably stored. On `Err`, nothing
/// may be kept; the client gets [`EnqueueError::reply`] (`451 4.3.0`, `452 4.3.1`, `421 4.3.2`).
#[async_trait]
pub trait Handoff: Send + Sync + 'static {
    /// Stores the envelope durably; returns the ids of the stored copies (at least one).
    ///
    /// # Errors
    /// An [`EnqueueError`] when nothing was stored.
    async fn enqueue(&self, envelope: Envelope) -> Result<Vec<QueueId>, EnqueueError>;
}

/// The queue engine is the production hand-off: `enqueue` returns once every copy is durably
/// stored (see [`envoi_queue::Queue::enqueue`]).
#[async_trait]
impl Handoff for envoi_queue::Queue {
    async fn enqueue(&self, envelope: Envelope) -> Result<Vec<QueueId>, EnqueueError> {
        envoi_queue::Queue::enqueue(self, envelope).await
    }
}
