//! The message being received, held in a bounded buffer: small messages stay in memory whole,
//! a large one streams to storage as it arrives.
//!
//! Content goes to memory until the message outgrows [`SPILL_ABOVE`]. Then the writer asks
//! the hand-off for a sink ([`Handoff::open_body`]; the spool's writes a staging file), keeps
//! the head (the header section, which the Received header, loop detection and the queue's
//! header policies work on) and writes the rest to the sink, and from then on every piece as
//! it comes. So a session holds at most `SPILL_ABOVE` octets of head plus one piece of
//! content ([`TAKE_ABOVE`] plus one read), whatever the message's size. The sink's content
//! becomes durable at the message's end ([`BodyWriter::finish`]) and part of a message only
//! when the hand-off stores it; a writer dropped before (a refused or aborted transaction, a
//! dropped connection) drops the sink, which removes what it staged.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use envoi_queue::{BodySink, EnqueueError, StagedBody};
use envoi_types::message::header_section_len;
use envoi_types::Message;

use crate::handoff::Handoff;
use crate::proto::text::TextCheck;

/// A message larger than this streams to storage; smaller ones stay whole in memory (and the
/// spool stores those up to the same size inline, in one group commit, which measured faster
/// than a file per message).
pub(crate) const SPILL_ABOVE: usize = 128 * 1024;

/// Content kept by a reader is handed to the writer once it exceeds this.
pub(crate) const TAKE_ABOVE: usize = 64 * 1024;

/// The most message octets one session holds in memory: the head, one handed-over piece and
/// one read. What the server-wide memory budget reserves per transaction.
pub(crate) const SESSION_BUFFER: usize = 256 * 1024;

/// The content of the message being received.
pub(crate) struct BodyWriter {
    handoff: Arc<dyn Handoff>,
    limit: usize,
    /// The whole message while small; its head once the rest streams to `sink`.
    head: BytesMut,
    sink: Option<Box<dyn BodySink>>,
    /// Small pieces gathered for the sink, written once they reach [`TAKE_ABOVE`].
    pending: BytesMut,
    /// Why storage refused a piece: the rest is discarded and the message refused at its end.
    failed: Option<EnqueueError>,
}

impl BodyWriter {
    /// An empty message of at most `limit` octets, streamed through `handoff` when large.
    pub(crate) fn new(handoff: Arc<dyn Handoff>, limit: usize) -> Self {
        Self {
            handoff,
            limit,
            head: BytesMut::new(),
            sink: None,
            pending: BytesMut::new(),
            failed: None,
        }
    }

    /// Takes the next piece of content.
    pub(crate) async fn push(&mut self, piece: Bytes) {
        if self.failed.is_some() || piece.is_empty() {
            return;
        }
        let written = match &mut self.sink {
            Some(sink) => {
                let piece = if self.pending.is_empty() && piece.len() >= TAKE_ABOVE {
                    piece
                } else {
                    self.pending.extend_from_slice(&piece);
                    if self.pending.len() < TAKE_ABOVE {
                        return;
                    }
                    self.pending.split().freeze()
                };
                sink.write(piece).await.map_err(EnqueueError::from)
            }
            None => {
                self.head.extend_from_slice(&piece);
                if self.head.len() <= SPILL_ABOVE {
                    return;
                }
                self.spill().await
            }
        };
        if let Err(error) = written {
            tracing::warn!(%error, "message content not stored");
            self.failed = Some(error);
            // Drops what the sink staged at once.
            self.sink = None;
        }
    }

    /// Octets held in memory now.
    pub(crate) fn buffered(&self) -> usize {
        self.head.len() + self.pending.len()
    }

    /// The complete message, `last` its final piece: in memory when small, else its head and
    /// the staged rest, made durable now.
    ///
    /// # Errors
    /// What storage said when it refused a piece or the final sync.
    pub(crate) async fn finish(mut self, last: Bytes) -> Result<Message, EnqueueError> {
        self.push(last).await;
        if let (Some(sink), false) = (&mut self.sink, self.pending.is_empty()) {
            if let Err(error) = sink.write(self.pending.split().freeze()).await {
                self.failed = Some(error.into());
            }
        }
        if let Some(error) = self.failed {
            return Err(error);
        }
        let head = self.head.freeze();
        match self.sink {
            None => Ok(Message::new(head)),
            Some(sink) => {
                let staged: StagedBody = sink.finish().await?;
                Ok(staged.after(head))
            }
        }
    }

    /// Opens the sink and moves everything after the head to it.
    async fn spill(&mut self) -> Result<(), EnqueueError> {
        let mut sink = self.handoff.open_body(self.limit).await?;
        let head_len = header_section_len(&self.head);
        // A fresh buffer for the head, so the large one is freed once the sink has its bytes.
        let head = BytesMut::from(&self.head[..head_len]);
        let whole = std::mem::replace(&mut self.head, head);
        sink.write(whole.freeze().slice(head_len..)).await?;
        self.sink = Some(sink);
        Ok(())
    }
}

/// A BDAT message between its chunks: its content so far, and DATA's line rules over it.
pub(crate) struct ChunkedBody {
    /// Where the content goes.
    pub writer: BodyWriter,
    /// The line rules, checked as the content streams.
    pub check: TextCheck,
}

impl ChunkedBody {
    /// An empty message of at most `limit` octets with lines of at most `max_line`.
    pub(crate) fn new(handoff: Arc<dyn Handoff>, limit: usize, max_line: usize) -> Self {
        Self {
            writer: BodyWriter::new(handoff, limit),
            check: TextCheck::new(max_line),
        }
    }
}
