//! The one narrow call through which the edge hands envelopes to the queue.

use async_trait::async_trait;
use envoi_queue::{BodySink, EnqueueError, MemorySink};
use envoi_types::{Envelope, QueueId, Reply};

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

    /// A sink for the content of a large message while it arrives, at most `limit` octets:
    /// the edge writes what follows the head it keeps, then enqueues the envelope whose
    /// message is the head followed by what the sink staged (see
    /// [`envoi_queue::Queue::open_body`]). Default: kept in memory.
    ///
    /// # Errors
    /// An [`EnqueueError`] when no body can be taken now; the message is then refused.
    async fn open_body(&self, limit: usize) -> Result<Box<dyn BodySink>, EnqueueError> {
        Ok(Box::new(MemorySink::new(limit)))
    }

    /// Whether a message would be taken now. The edge asks at `MAIL`, `DATA` and the first
    /// `BDAT` chunk, before any body is read, and answers the reply when refused (`452 4.3.1`
    /// when storage is full, `451 4.3.0` when it fails). Default: always taken.
    ///
    /// # Errors
    /// The reply to give instead of taking the message.
    fn accepting(&self) -> Result<(), Reply> {
        Ok(())
    }
}

/// The queue engine is the production hand-off: `enqueue` returns once every copy is durably
/// stored (see [`envoi_queue::Queue::enqueue`]).
#[async_trait]
impl Handoff for envoi_queue::Queue {
    async fn enqueue(&self, envelope: Envelope) -> Result<Vec<QueueId>, EnqueueError> {
        envoi_queue::Queue::enqueue(self, envelope).await
    }

    /// The store's streaming sink (a staging file for the spool).
    async fn open_body(&self, limit: usize) -> Result<Box<dyn BodySink>, EnqueueError> {
        envoi_queue::Queue::open_body(self, limit).await
    }

    /// Refused while an attempt's outcome waits for the store (see
    /// [`envoi_queue::Queue::accepting`]).
    fn accepting(&self) -> Result<(), Reply> {
        envoi_queue::Queue::accepting(self)
            .reply()
            .map_or(Ok(()), Err)
    }
}
