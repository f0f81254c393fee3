//! The streaming enqueue on PostgreSQL: the body is buffered in memory, behind a bound.
//!
//! A message's envelope and body are one postcard value in one `envoi_body` row, inserted by
//! the group commit with every other new message of its group (`writer`). Streaming the body
//! into the database in pieces would need a row of its own per message, written outside that
//! commit and cleaned up after an abort by a sweep of every node; buffering keeps one insert
//! per group and nothing to clean up. The cost is memory: a receiving session holds the whole
//! body until the write, at most [`MAX_BUFFERED`] octets (and never more than the caller's own
//! limit, normally the edge's message-size limit), so the server-wide memory the bodies take
//! is bounded by concurrent sessions × that size, as before streaming.

use envoi_queue::{BodySink, MemorySink};

/// The most octets one body may buffer: well under PostgreSQL's 1 GiB limit on one `bytea`
/// value, which the encoded envelope and body must fit.
pub const MAX_BUFFERED: usize = 512 * 1024 * 1024;

/// A sink for a body of at most `limit` octets (and at most [`MAX_BUFFERED`]).
pub(crate) fn open_body(limit: usize) -> Box<dyn BodySink> {
    Box::new(MemorySink::new(limit.min(MAX_BUFFERED)))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use envoi_queue::StagedBody;

    use super::*;

    #[tokio::test]
    async fn buffers_in_memory_within_the_bound() {
        let mut sink = open_body(8);
        sink.write(Bytes::from_static(b"12345678")).await.unwrap();
        assert!(sink.write(Bytes::from_static(b"9")).await.is_err());
        let staged = sink.finish().await.unwrap();
        assert!(matches!(staged, StagedBody::Memory(bytes) if bytes.as_ref() == b"12345678"));
    }
}
