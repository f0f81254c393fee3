//! Splitting a byte stream into SMTP replies, without I/O.
//!
//! The caller appends what it read with [`ReplyReader::feed`] and takes complete replies with
//! [`ReplyReader::next_reply`]; `Ok(None)` means "need more bytes".
//!
//! Replies are bytes: a line is a code and a separator, then any octets, decoded lossily
//! ([`ReplyLine`]). A peer that writes Latin-1 in its `250` has still accepted the message.
//!
//! # Layout
//! - [`ReplyReader`]: the buffer and the line splitter.
//! - [`ReadError`]: a reply that is malformed.

use bytes::{Buf, BytesMut};
use envoi_types::{Reply, ReplyLine, ReplyParseError};

/// Why the bytes cannot become a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A line is not a reply line.
    #[error("malformed reply: {0}")]
    Malformed(#[from] ReplyParseError),
}

/// Most lines kept of one reply (an EHLO reply has a dozen): further continuation lines are
/// dropped, the last line is kept.
const MAX_LINES: usize = 128;

/// Accumulates bytes and yields complete replies.
#[derive(Debug)]
pub struct ReplyReader {
    buffer: BytesMut,
    lines: Vec<(u16, String)>,
    max_line: usize,
    /// The head of an over-long line was taken: drop octets up to its LF.
    skipping: bool,
}

impl ReplyReader {
    /// A reader keeping at most `max_line` octets of each line (at least 4: a code and its
    /// separator).
    pub fn new(max_line: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            lines: Vec::new(),
            max_line: max_line.max(4),
            skipping: false,
        }
    }

    /// Appends bytes read from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The buffer [`ReplyReader::feed`] appends to, for reading from the socket straight into
    /// it (`read_buf`) without a copy.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// True when unparsed bytes remain (a peer speaking out of turn, or pipelined replies).
    pub fn has_pending(&self) -> bool {
        !self.buffer.is_empty() || !self.lines.is_empty() || self.skipping
    }

    /// The next complete reply, `Ok(None)` when more bytes are needed.
    ///
    /// A line longer than the bound keeps its first `max_line` octets (its code and the start
    /// of its text); a reply of more than 128 lines keeps its first lines and its
    /// last. Either way the code is read: a long `250` after the data is still a `250`.
    ///
    /// # Errors
    /// A [`ReadError`] when a line is malformed; the stream is then unusable.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReadError> {
        loop {
            let Some(raw) = self.next_line() else {
                return Ok(None);
            };
            let line = ReplyLine::parse(&raw)?;
            if let Some((first, _)) = self.lines.first() {
                if *first != line.code {
                    self.lines.clear();
                    return Err(ReadError::Malformed(ReplyParseError::MixedCodes));
                }
            }
            if line.last && self.lines.is_empty() {
                // Most replies are one line: no copy of it before the reply's own.
                return Ok(Some(Reply::from_lines(line.code, &[&line.text])));
            }
            if line.last || self.lines.len() < MAX_LINES - 1 {
                self.lines.push((line.code, line.text.into_owned()));
            }
            if line.last {
                let lines = std::mem::take(&mut self.lines);
                let raw: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
                return Ok(Some(Reply::from_lines(line.code, &raw)));
            }
        }
    }

    /// The next line (at most `max_line` octets of it), or `None` when more bytes are needed.
    /// The rest of a longer line is dropped as it arrives, so the buffer stays bounded.
    fn next_line(&mut self) -> Option<BytesMut> {
        loop {
            let end = memchr::memchr(b'\n', &self.buffer);
            if self.skipping {
                let Some(end) = end else {
                    self.buffer.clear();
                    return None;
                };
                self.buffer.advance(end + 1);
                self.skipping = false;
                continue;
            }
            return match end {
                Some(end) if end <= self.max_line => Some(self.buffer.split_to(end + 1)),
                None if self.buffer.len() <= self.max_line => None,
                _ => {
                    let head = self.buffer.split_to(self.max_line);
                    self.skipping = true;
                    Some(head)
                }
            };
        }
    }

    /// Drops whatever is buffered (after STARTTLS, bytes sent in plain text must not count).
    pub fn clear(&mut self) {
        self.buffer.advance(self.buffer.len());
        self.lines.clear();
        self.skipping = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    #[test]
    fn byte_by_byte_and_pipelined() {
        let mut reader = ReplyReader::new(512);
        let wire = b"250-mx\r\n250 8BITMIME\r\n550 5.1.1 no\r\n";
        let mut replies = Vec::new();
        for b in wire {
            reader.feed(&[*b]);
            while let Some(r) = reader.next_reply().unwrap() {
                replies.push(r);
            }
        }
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].lines, vec!["mx", "8BITMIME"]);
        assert_eq!(replies[1].to_string(), "550 5.1.1 no");
        assert!(!reader.has_pending());
    }

    #[test]
    fn bounds_and_garbage() {
        let mut reader = ReplyReader::new(16);
        reader.feed(&[b'2'; 40]);
        assert!(matches!(reader.next_reply(), Err(ReadError::Malformed(_))));
        let mut reader = ReplyReader::new(512);
        reader.feed(b"hello\r\n");
        assert!(matches!(reader.next_reply(), Err(ReadError::Malformed(_))));
        let mut reader = ReplyReader::new(512);
        reader.feed(b"250-a\r\n251 b\r\n");
        assert!(matches!(reader.next_reply(), Err(ReadError::Malformed(_))));
    }

    #[test]
    fn an_over_long_line_keeps_its_code() {
        let mut wire = b"250 2.0.0 ".to_vec();
        wire.extend([b'x'; 100]);
        wire.extend(b"\r\n550 5.1.1 no\r\n");
        for step in [wire.len(), 1] {
            let mut reader = ReplyReader::new(32);
            let mut replies = Vec::new();
            for chunk in wire.chunks(step) {
                reader.feed(chunk);
                while let Some(reply) = reader.next_reply().unwrap() {
                    replies.push(reply);
                }
            }
            assert_eq!(replies.len(), 2, "fed {step} at a time");
            assert_eq!(replies[0].code, 250);
            assert_eq!(replies[0].text(), "x".repeat(22));
            assert_eq!(replies[1].to_string(), "550 5.1.1 no");
            assert!(!reader.has_pending());
        }
    }

    #[test]
    fn a_reply_of_too_many_lines_keeps_its_code_and_last_line() {
        let mut reader = ReplyReader::new(512);
        for i in 0..300 {
            reader.feed(format!("250-line {i}\r\n").as_bytes());
        }
        reader.feed(b"250 2.0.0 queued\r\n");
        let reply = reader.next_reply().unwrap().unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines.len(), MAX_LINES);
        assert_eq!(reply.lines.last().map(String::as_str), Some("2.0.0 queued"));
        assert!(!reader.has_pending());
    }

    #[test]
    fn octets_that_are_not_utf8_are_text() {
        let mut reader = ReplyReader::new(512);
        reader.feed(b"220 mx \xff\xfe ESMTP\r\n250-mx Gr\xfc\xdfe\r\n250 8BITMIME\r\n");
        reader.feed(b"250 2.0.0 Ok: queued \xe0 la file\r\n");
        let banner = reader.next_reply().unwrap().unwrap();
        assert_eq!(banner.code, 220);
        assert_eq!(banner.lines, vec!["mx \u{fffd}\u{fffd} ESMTP"]);
        let ehlo = reader.next_reply().unwrap().unwrap();
        assert_eq!(ehlo.lines, vec!["mx Gr\u{fffd}\u{fffd}e", "8BITMIME"]);
        let queued = reader.next_reply().unwrap().unwrap();
        assert_eq!(queued.to_string(), "250 2.0.0 Ok: queued \u{fffd} la file");
        assert!(!reader.has_pending());
    }

    proptest::proptest! {
        /// Any octets after a valid code are a reply with that code, however they are cut.
        #[test]
        fn any_text_after_a_code_is_a_reply(
            code in 200u16..600,
            texts in proptest::collection::vec(proptest::collection::vec(
                proptest::num::u8::ANY.prop_filter("no LF", |b| *b != b'\n'), 0..60), 1..4),
            cut in 0usize..200,
        ) {
            let mut wire = Vec::new();
            for (i, text) in texts.iter().enumerate() {
                let sep = if i + 1 == texts.len() { b' ' } else { b'-' };
                wire.extend_from_slice(code.to_string().as_bytes());
                wire.push(sep);
                wire.extend_from_slice(text);
                wire.extend_from_slice(b"\r\n");
            }
            let mut reader = ReplyReader::new(512);
            let cut = cut.min(wire.len());
            reader.feed(&wire[..cut]);
            let mut replies = Vec::new();
            while let Some(reply) = reader.next_reply().unwrap() {
                replies.push(reply);
            }
            reader.feed(&wire[cut..]);
            while let Some(reply) = reader.next_reply().unwrap() {
                replies.push(reply);
            }
            proptest::prop_assert_eq!(replies.len(), 1);
            proptest::prop_assert_eq!(replies[0].code, code);
            proptest::prop_assert_eq!(replies[0].lines.len(), texts.len());
            proptest::prop_assert!(!reader.has_pending());
        }

        /// Arbitrary bytes never panic, and never make the reader hold more than its bound.
        #[test]
        fn arbitrary_bytes_are_replies_or_errors(
            chunks in proptest::collection::vec(
                proptest::collection::vec(proptest::num::u8::ANY, 0..80), 0..8),
        ) {
            let mut reader = ReplyReader::new(64);
            for chunk in &chunks {
                reader.feed(chunk);
                loop {
                    match reader.next_reply() {
                        Ok(Some(reply)) => proptest::prop_assert!((100..600).contains(&reply.code)),
                        Ok(None) => {
                            proptest::prop_assert!(reader.buffer.len() <= 64);
                            break;
                        }
                        Err(_) => return Ok(()),
                    }
                }
            }
        }
    }
}
