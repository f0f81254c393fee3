//! Command-line framing.
//!
//! RFC 5321 §2.3.8: lines end with CRLF, and a bare CR or LF is not a line ending. This reader
//! takes LF as the frame boundary (so a client sending bare LF gets an answer instead of a
//! hang) but reports any line whose LF is not preceded by CR, or that holds a CR elsewhere, as
//! [`LineEvent::BareLineEnding`]: the session refuses it rather than guess what was meant.
//!
//! Memory is bounded: a line longer than the reader's limit is dropped as it arrives (the
//! buffer is emptied) and reported once as [`LineEvent::TooLong`] when its LF finally comes.

use bytes::{Bytes, BytesMut};

/// What the reader found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// A complete line, without its CRLF.
    Line(Bytes),
    /// A line longer than the limit was read and discarded.
    TooLong,
    /// A line containing a bare CR or ending in a bare LF was read and discarded.
    BareLineEnding,
}

/// Splits buffered input into command lines; keeps only the state of a line being discarded.
#[derive(Debug, Clone)]
pub struct LineReader {
    /// Longest accepted line in octets, CRLF included.
    limit: usize,
    /// True while the bytes of an over-long line are being dropped.
    discarding: bool,
}

impl LineReader {
    /// A reader accepting lines of at most `limit` octets, CRLF included.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            discarding: false,
        }
    }

    /// The line limit, CRLF included.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// True while an over-long line is being dropped: part of a line has arrived.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Changes the line limit (AUTH exchanges allow longer lines than commands).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Takes the next event from the front of `buf`, or `None` when more input is needed.
    ///
    /// Promises that after a `None`, `buf` holds at most `limit` octets: an over-long partial
    /// line is dropped, so the caller's buffer never grows past the limit plus one read.
    pub fn next(&mut self, buf: &mut BytesMut) -> Option<LineEvent> {
        match memchr::memchr(b'\n', buf) {
            Some(lf) => {
                let line = buf.split_to(lf + 1).freeze();
                if std::mem::take(&mut self.discarding) || line.len() > self.limit {
                    return Some(LineEvent::TooLong);
                }
                let body = &line[..lf];
                let Some(text) = body.strip_suffix(b"\r") else {
                    return Some(LineEvent::BareLineEnding);
                };
                if text.contains(&b'\r') {
                    return Some(LineEvent::BareLineEnding);
                }
                Some(LineEvent::Line(line.slice(..text.len())))
            }
            None => {
                if buf.len() > self.limit {
                    self.discarding = true;
                    buf.clear();
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(reader: &mut LineReader, input: &[u8]) -> Vec<LineEvent> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(event) = reader.next(&mut buf) {
            out.push(event);
        }
        out
    }

    #[test]
    fn splits_crlf_lines() {
        let mut r = LineReader::new(512);
        assert_eq!(
            events(&mut r, b"EHLO a\r\nNOOP\r\npartial"),
            vec![
                LineEvent::Line(Bytes::from_static(b"EHLO a")),
                LineEvent::Line(Bytes::from_static(b"NOOP"))
            ]
        );
    }

    #[test]
    fn refuses_bare_lf_and_cr() {
        let mut r = LineReader::new(512);
        assert_eq!(
            events(&mut r, b"NOOP\nNO\rOP\r\n"),
            vec![LineEvent::BareLineEnding, LineEvent::BareLineEnding]
        );
    }

    #[test]
    fn limit_counts_crlf() {
        let mut r = LineReader::new(8);
        assert_eq!(
            events(&mut r, b"123456\r\n1234567\r\n"),
            vec![
                LineEvent::Line(Bytes::from_static(b"123456")),
                LineEvent::TooLong
            ]
        );
    }

    #[test]
    fn long_line_across_reads_is_dropped_once() {
        let mut r = LineReader::new(8);
        let mut buf = BytesMut::from(&b"0123456789"[..]);
        assert_eq!(r.next(&mut buf), None);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"abc\r\nNOOP\r\n");
        assert_eq!(r.next(&mut buf), Some(LineEvent::TooLong));
        assert_eq!(
            r.next(&mut buf),
            Some(LineEvent::Line(Bytes::from_static(b"NOOP")))
        );
    }
}
