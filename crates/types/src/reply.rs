//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An enhanced mail system status code `class.subject.detail` (RFC 3463), e.g. `4.4.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnhancedCode {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// The subject: 0 other, 1 addressing, 2 mailbox, 3 mail system, 4 network, 5 protocol,
    /// 6 content, 7 security.
    pub subject: u16,
    /// The detail within the subject.
    pub detail: u16,
}

impl EnhancedCode {
    /// A code from its three parts.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }

    /// The default for a reply code's class: `2.0.0`, `4.0.0` or `5.0.0` (and `2.0.0` for
    /// intermediate replies).
    pub fn default_for(code: u16) -> Self {
        match code / 100 {
            4 => Self::new(4, 0, 0),
            5 => Self::new(5, 0, 0),
            _ => Self::new(2, 0, 0),
        }
    }

    /// Parses `x.y.z` where x is 2, 4 or 5 and y, z have one to three digits.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let class = parts.next()?;
        let subject = parts.next()?;
        let detail = parts.next()?;
        if parts.next().is_some() || !matches!(class, "2" | "4" | "5") {
            return None;
        }
        let number = |s: &str| {
            (!s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        Some(Self::new(
            class.parse().ok()?,
            number(subject)?,
            number(detail)?,
        ))
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl TryFrom<String> for EnhancedCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or_else(|| format!("invalid enhanced status code {value:?}"))
    }
}

impl From<EnhancedCode> for String {
    fn from(value: EnhancedCode) -> Self {
        value.to_string()
    }
}

/// What a reply means for delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplyClass {
    /// 1xx or 3xx: go on with the transaction.
    Intermediate,
    /// 2xx: done.
    Success,
    /// 4xx: try again later.
    Transient,
    /// 5xx: do not try again.
    Permanent,
}

/// Why bytes are not a well-formed SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyParseError {
    /// A line does not start with a three-digit code in 200..=599 (or 1xx/3xx).
    #[error("reply line has no valid three-digit code")]
    BadCode,
    /// Lines of one reply carry different codes.
    #[error("reply lines carry different codes")]
    MixedCodes,
    /// The last line is a continuation line (`250-`), or there is no line at all.
    #[error("reply is incomplete")]
    Incomplete,
}

/// One SMTP reply: a code, an enhanced status code and one or more lines of text.
///
/// The enhanced code is always present: when the wire reply had none, it is the class default
/// (`2.0.0`, `4.0.0`, `5.0.0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The enhanced status code.
    pub enhanced: EnhancedCode,
    /// The text lines, without code or enhanced code; at least one, possibly empty.
    pub lines: Vec<String>,
}

impl Reply {
    /// A reply from a code, an enhanced code and text; `\n` in the text separates lines.
    pub fn new(code: u16, enhanced: EnhancedCode, text: &str) -> Self {
        Self {
            code,
            enhanced,
            lines: text
                .split('\n')
                .map(|l| l.trim_end_matches('\r').to_owned())
                .collect(),
        }
    }

    /// A reply with the class-default enhanced code.
    pub fn with_default_code(code: u16, text: &str) -> Self {
        Self::new(code, EnhancedCode::default_for(code), text)
    }

    /// Parses a complete reply as read from the wire, one or more CRLF (or LF) terminated lines.
    ///
    /// Octets that are not UTF-8 do not make a reply malformed: the code is what counts, and
    /// the text is decoded lossily (each invalid sequence, and each control character but TAB,
    /// becomes U+FFFD).
    ///
    /// # Errors
    /// See [`ReplyParseError`].
    pub fn parse(wire: &[u8]) -> Result<Self, ReplyParseError> {
        let mut code = None;
        let mut texts = Vec::new();
        let mut complete = false;
        for raw in wire.split_inclusive(|&b| b == b'\n') {
            if complete {
                return Err(ReplyParseError::Incomplete);
            }
            let line = ReplyLine::parse(raw)?;
            if *code.get_or_insert(line.code) != line.code {
                return Err(ReplyParseError::MixedCodes);
            }
            complete = line.last;
            texts.push(line.text);
        }
        let code = code.ok_or(ReplyParseError::Incomplete)?;
        if !complete {
            return Err(ReplyParseError::Incomplete);
        }
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        Ok(Self::from_lines(code, &texts))
    }

    /// Builds a reply from a code and the text of each line as sent (enhanced code possibly
    /// leading each line); useful to sans-IO parsers that split lines themselves.
    pub fn from_lines(code: u16, raw_lines: &[&str]) -> Self {
        let enhanced = raw_lines
            .first()
            .and_then(|first| leading_enhanced(first, code))
            .map(|(enhanced, _)| enhanced);
        let lines = raw_lines
            .iter()
            .map(|line| match (enhanced, leading_enhanced(line, code)) {
                (Some(e), Some((found, rest))) if e == found => rest.to_owned(),
                _ => (*line).to_owned(),
            })
            .collect();
        Self {
            code,
            enhanced: enhanced.unwrap_or_else(|| EnhancedCode::default_for(code)),
            lines,
        }
    }

    /// The class of the reply code.
    pub fn class(&self) -> ReplyClass {
        match self.code / 100 {
            2 => ReplyClass::Success,
            4 => ReplyClass::Transient,
            5 => ReplyClass::Permanent,
            _ => ReplyClass::Intermediate,
        }
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        self.class() == ReplyClass::Success
    }

    /// 4xx.
    pub fn is_transient(&self) -> bool {
        self.class() == ReplyClass::Transient
    }

    /// 5xx.
    pub fn is_permanent(&self) -> bool {
        self.class() == ReplyClass::Permanent
    }

    /// The text lines joined with a space: the reply in one line for logs and bounces.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// A copy whose last line has `suffix` appended, e.g. `" (Too many retries)"`.
    pub fn with_suffix(&self, suffix: &str) -> Self {
        let mut reply = self.clone();
        match reply.lines.last_mut() {
            Some(last) => last.push_str(suffix),
            None => reply.lines.push(suffix.trim_start().to_owned()),
        }
        reply
    }

    /// The reply as sent on the wire: every line `code[-| ]enhanced text\r\n`.
    ///
    /// Intermediate replies (354, 334) carry no enhanced code, as RFC 2034 requires.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        let count = self.lines.len().max(1);
        for i in 0..count {
            let sep = if i + 1 == count { ' ' } else { '-' };
            let text = self.lines.get(i).map_or("", String::as_str);
            if self.class() == ReplyClass::Intermediate {
                out.push_str(&format!("{}{}{}\r\n", self.code, sep, text));
            } else {
                out.push_str(&format!(
                    "{}{}{} {}\r\n",
                    self.code, sep, self.enhanced, text
                ));
            }
        }
        out
    }
}

impl fmt::Display for Reply {
    /// One line: `550 5.1.1 text text`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.text())
    }
}

/// One line of a reply as read from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The three-digit code.
    pub code: u16,
    /// True for the last line of the reply (`250 ` or a bare `250`), false for `250-`.
    pub last: bool,
    /// The text after the separator, decoded lossily: octets that are not UTF-8, and control
    /// characters but TAB, become U+FFFD, so a peer's stray Latin-1 never hides its code.
    pub text: Cow<'a, str>,
}

impl<'a> ReplyLine<'a> {
    /// Parses one line, with or without its CRLF (or LF): a code in 100..=599, then a space,
    /// a hyphen or nothing, then any octets.
    ///
    /// # Errors
    /// [`ReplyParseError::BadCode`] when the line does not start so.
    pub fn parse(line: &'a [u8]) -> Result<Self, ReplyParseError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some((digits, rest)) = line.split_first_chunk::<3>() else {
            return Err(ReplyParseError::BadCode);
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(ReplyParseError::BadCode);
        }
        let code = digits
            .iter()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        if !(100..600).contains(&code) {
            return Err(ReplyParseError::BadCode);
        }
        let (last, text) = match rest.split_first() {
            None => (true, &[][..]),
            Some((b' ', text)) => (true, text),
            Some((b'-', text)) => (false, text),
            Some(_) => return Err(ReplyParseError::BadCode),
        };
        Ok(Self {
            code,
            last,
            text: printable(String::from_utf8_lossy(text)),
        })
    }
}

/// `text` with every control character but TAB replaced by U+FFFD: a peer's bare CR or escape
/// sequence must not become a line break in a bounce or a log.
fn printable(text: Cow<'_, str>) -> Cow<'_, str> {
    let unprintable = |c: char| c.is_control() && c != '\t';
    if !text.chars().any(unprintable) {
        return text;
    }
    let cleaned = text
        .chars()
        .map(|c| if unprintable(c) { '\u{fffd}' } else { c })
        .collect();
    Cow::Owned(cleaned)
}

/// An enhanced code at the start of `text` whose class matches the reply code's class.
fn leading_enhanced(text: &str, code: u16) -> Option<(EnhancedCode, &str)> {
    let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
    let enhanced = EnhancedCode::parse(first)?;
    (u16::from(enhanced.class) == code / 100).then_some((enhanced, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_line_with_enhanced_code() {
        let r = Reply::parse(b"550 5.1.1 <x@y> user unknown\r\n").unwrap();
        assert_eq!(r.code, 550);
        assert_eq!(r.enhanced, EnhancedCode::new(5, 1, 1));
        assert_eq!(r.lines, vec!["<x@y> user unknown"]);
        assert!(r.is_permanent());
    }

    #[test]
    fn defaults_enhanced_code_by_class() {
        assert_eq!(
            Reply::parse(b"250 ok\r\n").unwrap().enhanced.to_string(),
            "2.0.0"
        );
        assert_eq!(
            Reply::parse(b"451 later\r\n").unwrap().enhanced.to_string(),
            "4.0.0"
        );
        assert_eq!(
            Reply::parse(b"554 no\r\n").unwrap().enhanced.to_string(),
            "5.0.0"
        );
    }

    #[test]
    fn enhanced_code_of_other_class_is_text() {
        let r = Reply::parse(b"450 5.1.1 odd\r\n").unwrap();
        assert_eq!(r.enhanced.to_string(), "4.0.0");
        assert_eq!(r.lines, vec!["5.1.1 odd"]);
    }

    #[test]
    fn parses_multiline() {
        let r = Reply::parse(b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n").unwrap();
        assert_eq!(r.lines, vec!["mx.example", "PIPELINING", "SIZE 100"]);
        let r = Reply::parse(b"452-4.5.3 too many\r\n452 4.5.3 recipients\r\n").unwrap();
        assert_eq!(r.lines, vec!["too many", "recipients"]);
        assert_eq!(
            r.to_wire(),
            "452-4.5.3 too many\r\n452 4.5.3 recipients\r\n"
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Reply::parse(b"25 x\r\n"), Err(ReplyParseError::BadCode));
        assert_eq!(Reply::parse(b"250-a\r\n"), Err(ReplyParseError::Incomplete));
        assert_eq!(
            Reply::parse(b"250-a\r\n251 b\r\n"),
            Err(ReplyParseError::MixedCodes)
        );
        assert_eq!(Reply::parse(b""), Err(ReplyParseError::Incomplete));
        assert_eq!(
            Reply::parse(b"250 a\r\n250 b\r\n"),
            Err(ReplyParseError::Incomplete)
        );
    }

    #[test]
    fn formats_to_wire() {
        let r = Reply::new(250, EnhancedCode::new(2, 6, 0), "queued as X");
        assert_eq!(r.to_wire(), "250 2.6.0 queued as X\r\n");
        assert_eq!(
            Reply::with_default_code(354, "go ahead").to_wire(),
            "354 go ahead\r\n"
        );
        assert_eq!(r.to_string(), "250 2.6.0 queued as X");
    }

    #[test]
    fn suffix_goes_on_last_line() {
        let r = Reply::with_default_code(450, "busy").with_suffix(" (Too many retries)");
        assert_eq!(r.text(), "busy (Too many retries)");
    }

    #[test]
    fn enhanced_code_parsing() {
        assert_eq!(
            EnhancedCode::parse("5.1.10"),
            Some(EnhancedCode::new(5, 1, 10))
        );
        assert_eq!(EnhancedCode::parse("3.1.1"), None);
        assert_eq!(EnhancedCode::parse("5.1"), None);
        assert_eq!(EnhancedCode::parse("5.1.1.1"), None);
        assert_eq!(EnhancedCode::parse("5.1000.1"), None);
    }

    #[test]
    fn octets_that_are_not_utf8_keep_the_reply() {
        // Latin-1 "Grüße": the code counts, the text is decoded lossily.
        let r = Reply::parse(b"250 2.0.0 Gr\xfc\xdfe, queued\r\n").unwrap();
        assert_eq!((r.code, r.enhanced), (250, EnhancedCode::new(2, 0, 0)));
        assert_eq!(r.lines, vec!["Gr\u{fffd}\u{fffd}e, queued"]);
        let r = Reply::parse(b"550-5.1.1 \xe9\r\n550 5.1.1 unknown\r\n").unwrap();
        assert_eq!(r.to_string(), "550 5.1.1 \u{fffd} unknown");
    }

    #[test]
    fn control_characters_in_the_text_are_replaced() {
        // A bare CR would become a line break in a bounce (a forged DSN field) or a log.
        let r = Reply::parse(b"550 5.1.1 no\rAction: delivered\x1b[31m\x00\tend\r\n").unwrap();
        assert_eq!(
            r.lines,
            vec!["no\u{fffd}Action: delivered\u{fffd}[31m\u{fffd}\tend"]
        );
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #[test]
        fn any_octets_after_a_code_are_a_reply(code in 200u16..600,
                                               text in proptest::collection::vec(
                                                   proptest::num::u8::ANY.prop_filter(
                                                       "no line end", |b| *b != b'\n'), 0..40)) {
            let mut wire = format!("{code} ").into_bytes();
            wire.extend_from_slice(&text);
            wire.extend_from_slice(b"\r\n");
            let parsed = Reply::parse(&wire).unwrap();
            proptest::prop_assert_eq!(parsed.code, code);
            let text = parsed.text();
            proptest::prop_assert!(!text.chars().any(|c| c.is_control() && c != '\t'), "{:?}", text);
        }

        #[test]
        fn wire_round_trip(code in 200u16..600, s in 0u16..8, d in 0u16..20,
                           lines in proptest::collection::vec("[a-zA-Z0-9 .]{0,30}", 1..4)) {
            let code = if (300..400).contains(&code) { 250 } else { code };
            let enhanced = EnhancedCode::new((code / 100) as u8, s, d);
            let reply = Reply { code, enhanced, lines: lines.clone() };
            let parsed = Reply::parse(reply.to_wire().as_bytes()).unwrap();
            proptest::prop_assert_eq!(parsed, reply);
        }
    }
}
