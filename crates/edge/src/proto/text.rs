//! DATA's line rules for content that arrives without dot-stuffing (BDAT), checked piece by
//! piece as it streams to storage: every CR and LF is part of a CRLF (a CRLF split between two
//! pieces or chunks included), and no line is longer than the limit, CRLF included.

use super::data::DataProblem;

/// The line rules over content given in pieces; [`TextCheck::verdict`] at its end.
#[derive(Debug, Clone)]
pub struct TextCheck {
    max_line: usize,
    /// Octets of the current line so far (a CR waiting for its LF included).
    line_len: usize,
    /// The last piece ended with a CR: the next must start with LF.
    cr: bool,
    bare: bool,
    long: bool,
}

impl TextCheck {
    /// A check for lines of at most `max_line` octets, CRLF included.
    pub fn new(max_line: usize) -> Self {
        Self {
            max_line,
            line_len: 0,
            cr: false,
            bare: false,
            long: false,
        }
    }

    /// Checks the next piece of content.
    pub fn feed(&mut self, piece: &[u8]) {
        if self.bare {
            return;
        }
        let mut at = 0;
        if self.cr {
            self.cr = false;
            if piece.first() == Some(&b'\n') {
                self.end_line(1);
                at = 1;
            } else if !piece.is_empty() {
                self.bare = true;
                return;
            } else {
                self.cr = true;
                return;
            }
        }
        // Each pass moves past one CR or LF, or ends the loop.
        while let Some(found) = memchr::memchr2(b'\r', b'\n', &piece[at..]) {
            let end = at + found;
            self.line_len = self.line_len.saturating_add(found);
            match (piece[end], piece.get(end + 1)) {
                (b'\r', Some(b'\n')) => {
                    self.end_line(2);
                    at = end + 2;
                }
                (b'\r', None) => {
                    self.line_len = self.line_len.saturating_add(1);
                    self.cr = true;
                    return;
                }
                _ => {
                    self.bare = true;
                    return;
                }
            }
        }
        self.line_len = self.line_len.saturating_add(piece.len() - at);
        self.long |= self.line_len > self.max_line;
    }

    /// The content so far is the whole content: its verdict.
    ///
    /// # Errors
    /// [`DataProblem::BareLineEnding`] first, else [`DataProblem::LineTooLong`].
    pub fn verdict(&self) -> Result<(), DataProblem> {
        if self.bare || self.cr {
            Err(DataProblem::BareLineEnding)
        } else if self.long {
            Err(DataProblem::LineTooLong)
        } else {
            Ok(())
        }
    }

    /// A line ends with `ending` more octets (the LF, or the CRLF).
    fn end_line(&mut self, ending: usize) {
        self.line_len = self.line_len.saturating_add(ending);
        self.long |= self.line_len > self.max_line;
        self.line_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::proto::data::check_text;

    fn in_pieces(content: &[u8], sizes: &[usize], max_line: usize) -> Result<(), DataProblem> {
        let mut check = TextCheck::new(max_line);
        let mut rest = content;
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, after) = rest.split_at((*size).min(rest.len()));
            check.feed(piece);
            rest = after;
        }
        check.verdict()
    }

    #[test]
    fn crlf_split_between_pieces_is_a_line_ending() {
        assert_eq!(in_pieces(b"ab\r\ncd\r\n", &[3], 10), Ok(()));
        assert_eq!(
            in_pieces(b"ab\r", &[3], 10),
            Err(DataProblem::BareLineEnding)
        );
        assert_eq!(
            in_pieces(b"ab\rc\n", &[3], 10),
            Err(DataProblem::BareLineEnding)
        );
        assert_eq!(
            in_pieces(b"abcdef\r\n", &[1], 7),
            Err(DataProblem::LineTooLong)
        );
        assert_eq!(in_pieces(b"abcde\r\n", &[1], 7), Ok(()));
    }

    proptest! {
        #[test]
        fn in_pieces_same_as_whole(
            content in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'\r', b'\n', b'.']), 0..200),
            sizes in proptest::collection::vec(1_usize..9, 1..4),
            max_line in 1_usize..12,
        ) {
            prop_assert_eq!(in_pieces(&content, &sizes, max_line), check_text(&content, max_line));
        }
    }
}
