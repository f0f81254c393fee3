//! The DATA body reader (RFC 5321 §4.1.1.4, §4.5.2).
//!
//! Only `<CRLF>.<CRLF>` ends the data (the CRLF that opens it may be the one ending the DATA
//! command). Every other line-ending trick — `<LF>.<LF>`, `<CR>.<CR>`, `<LF>.<CR><LF>`, … — is
//! taken as content *and* marks the message as carrying a bare CR or LF, so the session
//! refuses the message as a whole once the real end arrives: it never splits one client
//! message into two (the SMTP-smuggling class). Bytes after the end are not consumed; the
//! caller reads them as the next commands, and only then.
//!
//! Memory is bounded by the size limit: past it the reader keeps scanning for the end but
//! stores nothing more, and reports [`DataProblem::TooBig`].

use bytes::{Bytes, BytesMut};

/// Longest text line RFC 5321 §4.5.3.1.6 allows, CRLF included.
pub const MAX_TEXT_LINE: usize = 1000;

/// Why a complete message must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataProblem {
    /// The message exceeds the size limit: `552 5.3.4`.
    TooBig,
    /// A bare CR or LF appeared in the data: refused as a whole.
    BareLineEnding,
    /// A line exceeds 1000 octets including CRLF.
    LineTooLong,
    /// The caller stopped the reader from keeping content ([`DataReader::stop_keeping`]),
    /// e.g. because the server's memory budget is spent: `452 4.3.1`.
    NotKept,
}

/// Where the scanner is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Just after a CRLF (or at the very start): a `.` here is special.
    LineStart,
    /// Inside a line.
    InLine,
    /// After a CR inside a line, waiting to see whether LF follows.
    Cr,
    /// After a `.` at line start.
    Dot,
    /// After `.` CR at line start: LF now ends the data.
    DotCr,
}

/// Reads one DATA body incrementally; feed it bytes until [`DataReader::feed`] says it is done.
#[derive(Debug)]
pub struct DataReader {
    scan: Scan,
    body: BytesMut,
    limit: usize,
    line_len: usize,
    /// Octets of message seen (unstuffed), kept or not: what the size limit applies to.
    size: usize,
    too_big: bool,
    not_kept: bool,
    bare: bool,
    long_line: bool,
    done: bool,
}

impl DataReader {
    /// A reader that keeps at most `limit` octets of message.
    pub fn new(limit: usize) -> Self {
        Self {
            scan: Scan::LineStart,
            body: BytesMut::new(),
            limit,
            line_len: 0,
            size: 0,
            too_big: false,
            not_kept: false,
            bare: false,
            long_line: false,
            done: false,
        }
    }

    /// Scans `input`; returns how many octets belong to the data (all of them unless the end
    /// was found) and whether the end `<CRLF>.<CRLF>` was reached. After the end, the rest of
    /// `input` is the next commands and must not be fed here again.
    pub fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        let mut i = 0;
        // Each pass consumes at least one octet.
        while i < input.len() {
            if self.done {
                return (i, true);
            }
            if self.scan == Scan::InLine {
                // Fast path: ordinary octets up to the next CR or LF go in as one slice. The
                // fuzz target checks this agrees with the octet-at-a-time path.
                let run = input[i..]
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .unwrap_or(input.len() - i);
                if run > 0 {
                    self.line_len += run;
                    if self.line_len > MAX_TEXT_LINE {
                        self.long_line = true;
                    }
                    self.push(&input[i..i + run]);
                    i += run;
                    continue;
                }
            }
            self.step(input[i]);
            i += 1;
        }
        (input.len(), self.done)
    }

    /// [`DataReader::feed`] without its fast path, one octet at a time: the reference the
    /// fuzz checks compare `feed` against.
    pub(crate) fn feed_each_octet(&mut self, input: &[u8]) -> (usize, bool) {
        for (i, &b) in input.iter().enumerate() {
            if self.done {
                return (i, true);
            }
            self.step(b);
        }
        (input.len(), self.done)
    }

    /// Octets of message kept so far.
    pub fn kept(&self) -> usize {
        self.body.len()
    }

    /// Keeps nothing more (and drops what was kept); the reader still scans for the end, and
    /// [`DataReader::finish`] reports [`DataProblem::NotKept`] unless the size limit was hit.
    pub fn stop_keeping(&mut self) {
        self.not_kept = true;
        self.body = BytesMut::new();
    }

    /// True once `<CRLF>.<CRLF>` was read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The message, or why it must be refused (size first, then memory, then line endings,
    /// then line length).
    pub fn finish(self) -> Result<Bytes, DataProblem> {
        if self.too_big {
            Err(DataProblem::TooBig)
        } else if self.not_kept {
            Err(DataProblem::NotKept)
        } else if self.bare {
            Err(DataProblem::BareLineEnding)
        } else if self.long_line {
            Err(DataProblem::LineTooLong)
        } else {
            Ok(self.body.freeze())
        }
    }

    fn step(&mut self, b: u8) {
        self.line_len += 1;
        if self.line_len > MAX_TEXT_LINE {
            self.long_line = true;
        }
        match (self.scan, b) {
            (Scan::LineStart, b'.') => self.scan = Scan::Dot,
            (Scan::Cr, b'\n') => {
                self.push(b"\r\n");
                self.end_line();
            }
            (Scan::Cr, _) => {
                // The CR was bare: keep it as content, then treat `b` as an ordinary byte.
                self.bare = true;
                self.push(b"\r");
                self.scan = Scan::InLine;
                self.content(b);
            }
            (Scan::Dot, b'\r') => self.scan = Scan::DotCr,
            (Scan::Dot, _) => {
                // Dot-stuffing: the leading dot is dropped.
                self.scan = Scan::InLine;
                self.content(b);
            }
            (Scan::DotCr, b'\n') => self.done = true,
            (Scan::DotCr, _) => {
                self.bare = true;
                self.push(b"\r");
                self.scan = Scan::InLine;
                self.content(b);
            }
            (Scan::LineStart | Scan::InLine, _) => {
                self.scan = Scan::InLine;
                self.content(b);
            }
        }
    }

    /// An ordinary byte inside a line (the scanner is `InLine`).
    fn content(&mut self, b: u8) {
        match b {
            b'\r' => self.scan = Scan::Cr,
            b'\n' => {
                // A bare LF is content, never a line start: `<LF>.<LF>` cannot end the data.
                self.bare = true;
                self.push(b"\n");
            }
            _ => self.push(&[b]),
        }
    }

    fn end_line(&mut self) {
        self.scan = Scan::LineStart;
        self.line_len = 0;
    }

    fn push(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len());
        if self.size > self.limit {
            self.too_big = true;
        } else if !self.not_kept {
            self.body.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], limit: usize) -> (usize, bool, Result<Bytes, DataProblem>) {
        let mut reader = DataReader::new(limit);
        let (used, done) = reader.feed(input);
        (used, done, reader.finish())
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_and_unstuffs() {
        let (used, done, body) = read(b"a\r\n..b\r\n.\r\nNOOP\r\n", 100);
        assert!(done);
        assert_eq!(used, 11);
        assert_eq!(body.unwrap(), Bytes::from_static(b"a\r\n.b\r\n"));
    }

    #[test]
    fn empty_message() {
        let (used, done, body) = read(b".\r\n", 100);
        assert!(done && used == 3);
        assert!(body.unwrap().is_empty());
    }

    #[test]
    fn byte_at_a_time_is_the_same() {
        let mut reader = DataReader::new(100);
        for &b in b"x\r\n.\r\n" {
            reader.feed(&[b]);
        }
        assert!(reader.is_done());
        assert_eq!(reader.finish().unwrap(), Bytes::from_static(b"x\r\n"));
    }

    #[test]
    fn smuggling_endings_are_content_and_taint() {
        for ending in [
            &b"\n.\n"[..],
            b"\n.\r\n",
            b"\r\n.\n",
            b"\r.\r",
            b"\r\n.\r",
            b"\n.\r",
        ] {
            let mut input = b"a".to_vec();
            input.extend_from_slice(ending);
            input.extend_from_slice(b"MAIL FROM:<x@y>\r\n");
            let mut reader = DataReader::new(1000);
            let (used, done) = reader.feed(&input);
            assert!(!done, "{ending:?} must not end the data");
            assert_eq!(used, input.len());
            assert_eq!(reader.feed(b".\r\nQUIT\r\n"), (3, true));
            assert_eq!(
                reader.finish(),
                Err(DataProblem::BareLineEnding),
                "{ending:?}"
            );
        }
    }

    #[test]
    fn dot_space_is_not_an_end() {
        let (_, done, _) = read(b"a\r\n. \r\nb", 100);
        assert!(!done);
    }

    #[test]
    fn overflow_keeps_scanning() {
        let (used, done, body) = read(b"0123456789\r\n.\r\nQUIT\r\n", 5);
        assert!(done);
        assert_eq!(used, 15);
        assert_eq!(body, Err(DataProblem::TooBig));
    }

    #[test]
    fn stop_keeping_drops_content_but_finds_the_end() {
        let mut reader = DataReader::new(100);
        reader.feed(b"abc\r\n");
        assert_eq!(reader.kept(), 5);
        reader.stop_keeping();
        assert_eq!(reader.feed(b"def\r\n.\r\nNOOP"), (8, true));
        assert_eq!(reader.kept(), 0);
        assert_eq!(reader.finish(), Err(DataProblem::NotKept));
    }

    #[test]
    fn long_lines_are_reported() {
        let mut input = vec![b'x'; 999];
        input.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(read(&input, 10_000).2, Err(DataProblem::LineTooLong));
        let mut input = vec![b'x'; 998];
        input.extend_from_slice(b"\r\n.\r\n");
        assert!(read(&input, 10_000).2.is_ok());
    }
}
