//! Splitting a byte stream into SMTP replies, without I/O.
//!
//! The caller appends what it read with [`ReplyReader::feed`] and takes complete replies with
//! [`ReplyReader::next_reply`]; `Ok(None)` means "need more bytes".
//!
//! # Layout
//! - [`ReplyReader`]: the buffer and the line splitter.
//! - [`ReadError`]: a reply that is malformed or too large.

use bytes::{Buf, BytesMut};
use envoi_types::{Reply, ReplyParseError};

/// Why the bytes cannot become a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A line is not a reply line.
    #[error("malformed reply: {0}")]
    Malformed(#[from] ReplyParseError),
    /// A line, or a reply's line count, exceeds the bound.
    #[error("reply too long")]
    TooLong,
}

/// Most lines accepted in one reply (an EHLO reply has a dozen).
const MAX_LINES: usize = 128;

/// Accumulates bytes and yields complete replies.
#[derive(Debug)]
pub struct ReplyReader {
    buffer: BytesMut,
    lines: Vec<(u16, String)>,
    max_line: usize,
}

impl ReplyReader {
    /// A reader accepting lines of at most `max_line` octets.
    pub fn new(max_line: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            lines: Vec::new(),
            max_line,
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
        !self.buffer.is_empty() || !self.lines.is_empty()
    }

    /// The next complete reply, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// A [`ReadError`] when a line is malformed or the reply exceeds the bounds; the stream is
    /// then unusable.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReadError> {
        loop {
            let Some(end) = memchr::memchr(b'\n', &self.buffer) else {
                if self.buffer.len() > self.max_line {
                    return Err(ReadError::TooLong);
                }
                return Ok(None);
            };
            if end > self.max_line {
                return Err(ReadError::TooLong);
            }
            let line = self.buffer.split_to(end + 1);
            let text = std::str::from_utf8(&line)
                .map_err(|_| ReadError::Malformed(ReplyParseError::NotUtf8))?
                .trim_end_matches(['\r', '\n']);
            let (code, last, rest) = split(text)?;
            if let Some((first, _)) = self.lines.first() {
                if *first != code {
                    self.lines.clear();
                    return Err(ReadError::Malformed(ReplyParseError::MixedCodes));
                }
            }
            if last && self.lines.is_empty() {
                // Most replies are one line: no copy of it before the reply's own.
                return Ok(Some(Reply::from_lines(code, &[rest])));
            }
            if self.lines.len() >= MAX_LINES {
                return Err(ReadError::TooLong);
            }
            self.lines.push((code, rest.to_owned()));
            if last {
                let lines = std::mem::take(&mut self.lines);
                let raw: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
                return Ok(Some(Reply::from_lines(code, &raw)));
            }
        }
    }

    /// Drops whatever is buffered (after STARTTLS, bytes sent in plain text must not count).
    pub fn clear(&mut self) {
        self.buffer.advance(self.buffer.len());
        self.lines.clear();
    }
}

fn split(line: &str) -> Result<(u16, bool, &str), ReadError> {
    let bytes = line.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return Err(ReplyParseError::BadCode.into());
    }
    let code: u16 = line[..3].parse().map_err(|_| ReplyParseError::BadCode)?;
    if !(100..600).contains(&code) {
        return Err(ReplyParseError::BadCode.into());
    }
    match bytes.get(3) {
        None => Ok((code, true, "")),
        Some(b' ') => Ok((code, true, &line[4..])),
        Some(b'-') => Ok((code, false, &line[4..])),
        Some(_) => Err(ReplyParseError::BadCode.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(reader.next_reply(), Err(ReadError::TooLong));
        let mut reader = ReplyReader::new(512);
        reader.feed(b"hello\r\n");
        assert!(matches!(reader.next_reply(), Err(ReadError::Malformed(_))));
        let mut reader = ReplyReader::new(512);
        reader.feed(b"250-a\r\n251 b\r\n");
        assert!(matches!(reader.next_reply(), Err(ReadError::Malformed(_))));
    }
}
