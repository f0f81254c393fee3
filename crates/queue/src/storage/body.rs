//! Streaming bodies: a store takes a message's content piece by piece as it arrives, before
//! the message is complete, so a receiver never holds a whole large message in memory.
//!
//! [`Storage::open_body`](super::Storage::open_body) gives a [`BodySink`]; the receiver writes
//! the content after the part it keeps in memory (the head), then [`BodySink::finish`] makes
//! the written bytes durable and returns them as a [`StagedBody`]. The staged body becomes
//! part of a message only when that message is stored ([`crate::Queue::enqueue`]); a sink or a
//! staged body dropped before that leaves nothing behind (a store removes its staging file,
//! and one a crash left is removed at the next start).

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use envoi_types::{Message, SpooledBody};

use super::StorageError;

/// Receives the content of one message as it arrives.
#[async_trait]
pub trait BodySink: Send + Sync {
    /// Appends `chunk` to the body.
    ///
    /// # Errors
    /// The store cannot take more (`Full`, `Io`); the sink must then be dropped.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;

    /// Makes everything written durable (when the store keeps it in a file) and returns it.
    ///
    /// # Errors
    /// The bytes could not be made durable; nothing is kept.
    async fn finish(self: Box<Self>) -> Result<StagedBody, StorageError>;
}

/// The content a [`BodySink`] took, ready to become the rest of a message.
#[derive(Debug, Clone)]
pub enum StagedBody {
    /// Kept in memory (stores without files of their own).
    Memory(Bytes),
    /// Kept in a file of the store that staged it.
    File(SpooledBody),
}

impl StagedBody {
    /// The message made of `head` followed by this body.
    pub fn after(self, head: Bytes) -> Message {
        match self {
            Self::Memory(rest) if head.is_empty() => Message::new(rest),
            Self::Memory(rest) => {
                let mut whole = BytesMut::with_capacity(head.len() + rest.len());
                whole.extend_from_slice(&head);
                whole.extend_from_slice(&rest);
                Message::new(whole.freeze())
            }
            Self::File(rest) => Message::spooled(head, rest),
        }
    }
}

/// A sink that keeps the body in memory: the default of [`super::Storage::open_body`], for
/// stores that write whole messages in one call. Its memory is bounded by `limit` octets (the
/// receiver's message-size limit bounds it anyway); past it, writes fail with `Full`.
#[derive(Debug)]
pub struct MemorySink {
    bytes: BytesMut,
    limit: usize,
}

impl MemorySink {
    /// An empty sink that takes at most `limit` octets.
    pub fn new(limit: usize) -> Self {
        Self {
            bytes: BytesMut::new(),
            limit,
        }
    }
}

#[async_trait]
impl BodySink for MemorySink {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let total = self.bytes.len().checked_add(chunk.len());
        if total.is_none_or(|total| total > self.limit) {
            return Err(StorageError::Full(format!(
                "a body kept in memory may not exceed {} octets",
                self.limit
            )));
        }
        self.bytes.extend_from_slice(&chunk);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<StagedBody, StorageError> {
        Ok(StagedBody::Memory(self.bytes.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_sink_joins_head_and_body() {
        let mut sink = Box::new(MemorySink::new(16));
        sink.write(Bytes::from_static(b"body ")).await.unwrap();
        sink.write(Bytes::from_static(b"text")).await.unwrap();
        let staged = sink.finish().await.unwrap();
        let message = staged.after(Bytes::from_static(b"A: 1\r\n\r\n"));
        assert_eq!(message.as_bytes(), b"A: 1\r\n\r\nbody text");
        assert!(message.spooled_body().is_none());
    }

    #[tokio::test]
    async fn memory_sink_refuses_past_its_limit() {
        let mut sink = MemorySink::new(4);
        sink.write(Bytes::from_static(b"1234")).await.unwrap();
        assert!(matches!(
            sink.write(Bytes::from_static(b"5")).await,
            Err(StorageError::Full(_))
        ));
    }
}
