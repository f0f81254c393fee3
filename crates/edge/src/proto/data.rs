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
//!
//! Line length counts content: the dot a client adds for transparency (RFC 5321 §4.5.2) is not
//! part of the line, so a line of exactly the limit that starts with a dot is accepted
//! (RFC 5321 §4.5.3.1.6). [`check_text`] applies the same line rules to BDAT content.

use bytes::{Bytes, BytesMut};

/// Longest text line RFC 5321 §4.5.3.1.6 allows, CRLF included: the default limit.
pub const MAX_TEXT_LINE: usize = 1000;

/// Why a complete message must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataProblem {
    /// The message exceeds the size limit: `552 5.3.4`.
    TooBig,
    /// A bare CR or LF appeared in the data: refused as a whole.
    BareLineEnding,
    /// A line exceeds the line limit (1000 octets including CRLF unless set otherwise).
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
    max_line: usize,
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
            max_line: MAX_TEXT_LINE,
            line_len: 0,
            size: 0,
            too_big: false,
            not_kept: false,
            bare: false,
            long_line: false,
            done: false,
        }
    }

    /// The same reader with lines of at most `octets` (CRLF included, a transparency dot not).
    #[must_use]
    pub fn with_max_line(mut self, octets: usize) -> Self {
        self.max_line = octets;
        self
    }

    /// Scans `input`; returns how many octets belong to the data (all of them unless the end
    /// was found) and whether the end `<CRLF>.<CRLF>` was reached. After the end, the rest of
    /// `input` is the next commands and must not be fed here again.
    pub fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        if !self.too_big && !self.not_kept {
            // One allocation for what this read can add, instead of doubling as it grows; the
            // caller has reserved memory for it (`Conn::read_data`).
            let room = self.limit.saturating_sub(self.size);
            self.body.reserve(input.len().min(room));
        }
        let mut i = 0;
        // Each pass consumes at least one octet.
        while i < input.len() {
            if self.done {
                return (i, true);
            }
            if matches!(self.scan, Scan::LineStart | Scan::InLine) {
                i += self.clean_lines(&input[i..]);
                if i == input.len() {
                    break;
                }
            }
            // A leading dot, a bare CR or LF, or a CR that ends `input`: the state machine.
            self.step(input[i]);
            i += 1;
        }
        (input.len(), self.done)
    }

    /// The fast path of [`DataReader::feed`], taken at a line start or inside a line: consumes
    /// the longest prefix of `input` made of ordinary octets and CRLF-ended lines that do not
    /// start with `.`, keeps it with one copy, and stops before the first octet that needs
    /// [`DataReader::step`] (which it may leave at 0 octets).
    ///
    /// Hand-written with `memchr2` and one copy per read instead of a copy per line: 48 200 →
    /// 8 100 instructions per 4 KiB body read whole (`examples/feed_cost.rs` under callgrind).
    /// The test module keeps the previous `feed` as a reference that a proptest compares
    /// against on random input in random pieces, and the fuzz checks compare it with
    /// [`DataReader::feed_each_octet`].
    fn clean_lines(&mut self, input: &[u8]) -> usize {
        let mut at = 0;
        // Each pass consumes a CRLF-ended line or ends the loop.
        loop {
            if self.scan == Scan::LineStart && matches!(input.get(at), None | Some(b'.')) {
                break;
            }
            let rest = &input[at..];
            let Some(end) = memchr::memchr2(b'\r', b'\n', rest) else {
                self.line_len += rest.len();
                self.scan = Scan::InLine;
                at = input.len();
                break;
            };
            if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
                // Line lengths only grow within a line, so checking at its end is enough.
                self.line_len += end + 2;
                if self.line_len > self.max_line {
                    self.long_line = true;
                }
                self.end_line();
                at += end + 2;
            } else {
                // A bare CR or LF, or a CR whose LF has not arrived yet: `step` decides.
                self.line_len += end;
                if end > 0 {
                    self.scan = Scan::InLine;
                }
                at += end;
                break;
            }
        }
        if self.line_len > self.max_line {
            self.long_line = true;
        }
        if at > 0 {
            self.push(&input[..at]);
        }
        at
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

    /// Hands over what was kept so far (for streaming it to storage); the reader goes on
    /// keeping from here. The size limit still counts everything.
    pub fn take_kept(&mut self) -> Bytes {
        self.body.split().freeze()
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
        if (self.scan, b) == (Scan::LineStart, b'.') {
            // A dot at a line start is transparency (or the end), never content: it does not
            // count toward the line's length.
            self.scan = Scan::Dot;
            return;
        }
        self.line_len += 1;
        if self.line_len > self.max_line {
            self.long_line = true;
        }
        match (self.scan, b) {
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

/// Checks content that arrived without dot-stuffing (BDAT) by DATA's line rules: every CR and
/// LF is part of a CRLF, and no line is longer than `max_line` octets, CRLF included.
///
/// # Errors
/// [`DataProblem::BareLineEnding`] first, else [`DataProblem::LineTooLong`].
pub fn check_text(content: &[u8], max_line: usize) -> Result<(), DataProblem> {
    let mut long = false;
    let mut line_start = 0;
    let mut at = 0;
    // Each pass moves past one CR or LF.
    while let Some(found) = memchr::memchr2(b'\r', b'\n', &content[at..]) {
        let end = at + found;
        if content[end] != b'\r' || content.get(end + 1) != Some(&b'\n') {
            return Err(DataProblem::BareLineEnding);
        }
        long |= end + 2 - line_start > max_line;
        line_start = end + 2;
        at = line_start;
    }
    long |= content.len() - line_start > max_line;
    if long {
        Err(DataProblem::LineTooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `feed` as it was before `clean_lines`: the reference its results are compared with.
    fn feed_before(reader: &mut DataReader, input: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < input.len() {
            if reader.done {
                return (i, true);
            }
            if reader.scan == Scan::InLine {
                let run = input[i..]
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .unwrap_or(input.len() - i);
                if run > 0 {
                    reader.line_len += run;
                    if reader.line_len > reader.max_line {
                        reader.long_line = true;
                    }
                    reader.push(&input[i..i + run]);
                    i += run;
                    continue;
                }
            }
            reader.step(input[i]);
            i += 1;
        }
        (input.len(), reader.done)
    }

    /// `(used, done, kept)` after each piece, and the verdict.
    type Run = (
        Vec<(usize, bool, Option<usize>)>,
        Result<Bytes, DataProblem>,
    );

    /// Every `(used, done)` answer and the verdict, feeding `input` in pieces of `sizes`
    /// (cycled), with `feed` or the reference.
    fn in_pieces(
        input: &[u8],
        sizes: &[usize],
        limit: usize,
        feed: fn(&mut DataReader, &[u8]) -> (usize, bool),
    ) -> Run {
        let mut reader = DataReader::new(limit);
        let mut answers = Vec::new();
        let mut at = 0;
        let mut sizes = sizes.iter().copied().cycle();
        while at < input.len() {
            let size = sizes.next().unwrap_or(input.len()).max(1);
            let piece = &input[at..input.len().min(at + size)];
            let (used, done) = feed(&mut reader, piece);
            // What is kept is only defined while the message fits.
            let kept = (!reader.too_big).then(|| reader.kept());
            answers.push((used, done, kept));
            at += used;
            if done {
                break;
            }
        }
        (answers, reader.finish())
    }

    /// Message-like input: lines of `a`, dots, CRs and LFs, with one run long enough to pass
    /// the line limit somewhere in it.
    fn stream() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'.', b'\r', b'\n', b'\r', b'\n', b'x']),
                0..600,
            ),
            0usize..1100,
            any::<usize>(),
        )
            .prop_map(|(mut body, long, at)| {
                let at = at % (body.len() + 1);
                body.splice(at..at, std::iter::repeat_n(b'x', long));
                body
            })
    }

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

    #[test]
    fn the_transparency_dot_is_not_counted() {
        let mut input = b"..".to_vec();
        input.extend_from_slice(&[b'x'; 997]);
        input.extend_from_slice(b"\r\n.\r\n");
        let mut expected = b".".to_vec();
        expected.extend_from_slice(&[b'x'; 997]);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(read(&input, 10_000).2, Ok(Bytes::from(expected)));
        let short = DataReader::new(100).with_max_line(10);
        let mut short = short;
        short.feed(b"..23456789\r\n.123456789\r\n.\r\n");
        assert_eq!(short.finish(), Err(DataProblem::LineTooLong));
    }

    #[test]
    fn check_text_applies_the_line_rules_of_data() {
        assert_eq!(check_text(b"a\r\nb\r\n", 1000), Ok(()));
        assert_eq!(check_text(b"", 1000), Ok(()));
        assert_eq!(check_text(b"no line end", 1000), Ok(()));
        for bare in [&b"a\nb"[..], b"a\rb", b"a\r", b"\n", b"a\r\r\n"] {
            assert_eq!(check_text(bare, 1000), Err(DataProblem::BareLineEnding));
        }
        assert_eq!(check_text(b"12345678\r\n", 10), Ok(()));
        assert_eq!(
            check_text(b"123456789\r\n", 10),
            Err(DataProblem::LineTooLong)
        );
        assert_eq!(
            check_text(b"a\r\n12345678901", 10),
            Err(DataProblem::LineTooLong)
        );
    }

    proptest! {
        #[test]
        fn pieces_agree_with_the_reference_and_the_whole(
            input in stream(),
            sizes in proptest::collection::vec(1usize..80, 1..20),
            limit in proptest::sample::select(vec![16usize, 700, 1 << 20]),
        ) {
            let new = in_pieces(&input, &sizes, limit, DataReader::feed);
            let before = in_pieces(&input, &sizes, limit, feed_before);
            prop_assert_eq!(&new, &before);
            let whole = in_pieces(&input, &[input.len()], limit, DataReader::feed);
            let used = |(answers, _): &Run| {
                let done = answers.last().is_some_and(|a| a.1);
                (answers.iter().map(|a| a.0).sum::<usize>(), done)
            };
            prop_assert_eq!(used(&new), used(&whole));
            prop_assert_eq!(new.1, whole.1);
        }

        #[test]
        fn any_octets_agree_with_the_octet_at_a_time_reader(
            input in proptest::collection::vec(any::<u8>(), 0..400),
            step in 1usize..50,
        ) {
            let new = in_pieces(&input, &[step], 1 << 20, DataReader::feed);
            let reference = in_pieces(&input, &[step], 1 << 20, DataReader::feed_each_octet);
            prop_assert_eq!(new, reference);
        }
    }
}
