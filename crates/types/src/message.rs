//! The message itself: raw bytes with header access.
//!
//! Headers are located by a single scan for the blank line that ends the header section;
//! nothing parses MIME. Editing returns a new buffer: messages are immutable once shared.
//!
//! A large message may be *spooled*: its first part (the head, normally the header section)
//! in memory, the rest in a file ([`SpooledBody`]). Header access and editing then work on the
//! head only; [`Message::len`] and [`Message::has_8bit`] cover the whole message, and readers
//! of the content take [`Message::as_bytes`] (the head) then [`Message::spooled`].

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::spooled::SpooledBody;

/// Why a header cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Header names are printable ASCII without `:` or spaces (RFC 5322 §2.2).
    #[error("invalid header name {0:?}")]
    InvalidName(String),
    /// A header value may not contain CR or LF except in folding, which callers do not do.
    #[error("header value contains a line break")]
    LineBreakInValue,
}

/// The raw message (RFC 5322 header section and body) exactly as received.
///
/// Cloning is cheap (reference counted). Line endings are kept as received; relays turn them
/// into CRLF on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The whole message, or its head when `spooled` holds the rest.
    bytes: Bytes,
    spooled: Option<SpooledBody>,
}

impl Message {
    /// Wraps raw message bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            spooled: None,
        }
    }

    /// A message made of `head` in memory followed by the bytes of `rest`.
    pub fn spooled(head: impl Into<Bytes>, rest: SpooledBody) -> Self {
        Self {
            bytes: head.into(),
            spooled: Some(rest),
        }
    }

    /// The bytes held in memory: the whole message, or its head when the rest is spooled
    /// ([`Message::spooled_body`]).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// [`Message::as_bytes`] as a shared buffer.
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// The part kept in a file, when there is one.
    pub fn spooled_body(&self) -> Option<&SpooledBody> {
        self.spooled.as_ref()
    }

    /// The whole message in memory: itself when nothing is spooled, else the head followed by
    /// the file's bytes (read whole: for the rare callers that need one buffer).
    ///
    /// # Errors
    /// The spooled part cannot be read.
    pub fn in_memory(&self) -> std::io::Result<Self> {
        let Some(rest) = &self.spooled else {
            return Ok(self.clone());
        };
        let tail = rest.read_all()?;
        let mut whole = BytesMut::with_capacity(self.bytes.len() + tail.len());
        whole.extend_from_slice(&self.bytes);
        whole.extend_from_slice(&tail);
        Ok(Self::new(whole.freeze()))
    }

    /// Size in octets, spooled part included (saturating on a 32-bit target).
    pub fn len(&self) -> usize {
        let rest = self
            .spooled
            .as_ref()
            .map_or(0, |s| usize::try_from(s.len()).unwrap_or(usize::MAX));
        self.bytes.len().saturating_add(rest)
    }

    /// Octets held in memory (the head of a spooled message).
    pub fn resident_len(&self) -> usize {
        self.bytes.len()
    }

    /// True for an empty message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when some octet has its high bit set (needs 8BITMIME or SMTPUTF8).
    pub fn has_8bit(&self) -> bool {
        !self.bytes.is_ascii() || self.spooled.as_ref().is_some_and(SpooledBody::has_8bit)
    }

    /// The header section, including the blank line that ends it when there is one.
    pub fn header_section(&self) -> &[u8] {
        &self.bytes[..self.body_offset()]
    }

    /// The body, after the blank line.
    pub fn body(&self) -> &[u8] {
        &self.bytes[self.body_offset()..]
    }

    /// Offset where the body starts (after the blank line ending the headers); the whole length
    /// when the message has no blank line.
    pub fn body_offset(&self) -> usize {
        header_section_len(&self.bytes)
    }

    /// The value of the first header called `name` (case-insensitive), unfolded and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_fields()
            .find(|field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value())
    }

    /// Every value of the headers called `name`, in order.
    pub fn headers(&self, name: &str) -> Vec<String> {
        self.header_fields()
            .filter(|field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value())
            .collect()
    }

    /// How many headers are called `name` (for example `Received`, to detect loops).
    pub fn count_headers(&self, name: &str) -> usize {
        self.header_fields()
            .filter(|field| field.name.eq_ignore_ascii_case(name))
            .count()
    }

    /// A copy with `name: value` as the new first header line.
    ///
    /// # Errors
    /// Fails when the name is not a valid field name or the value contains a line break.
    pub fn with_header_prepended(&self, name: &str, value: &str) -> Result<Self, HeaderError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(HeaderError::InvalidName(name.to_owned()));
        }
        if value.contains(['\r', '\n']) {
            return Err(HeaderError::LineBreakInValue);
        }
        let mut out = BytesMut::with_capacity(name.len() + value.len() + 4 + self.len());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.bytes);
        Ok(self.with_head(out.freeze()))
    }

    /// The same message with `head` in place of the bytes held in memory.
    fn with_head(&self, head: Bytes) -> Self {
        Self {
            bytes: head,
            spooled: self.spooled.clone(),
        }
    }

    /// A copy without any header called `name` (continuation lines included).
    pub fn without_header(&self, name: &str) -> Self {
        let body_offset = self.body_offset();
        let mut out = BytesMut::with_capacity(self.len());
        let mut skipping = false;
        let mut start = 0;
        for line in lines(&self.bytes[..body_offset]) {
            let continuation = matches!(line.first(), Some(b' ' | b'\t'));
            if !continuation {
                skipping = field_name(line).is_some_and(|n| n.eq_ignore_ascii_case(name));
            }
            if !skipping || is_blank(line) {
                out.extend_from_slice(line);
            }
            start += line.len();
        }
        out.extend_from_slice(&self.bytes[start..]);
        self.with_head(out.freeze())
    }

    fn header_fields(&self) -> impl Iterator<Item = HeaderField<'_>> {
        let section = self.header_section();
        let mut fields: Vec<HeaderField<'_>> = Vec::new();
        for line in lines(section) {
            if is_blank(line) {
                break;
            }
            if matches!(line.first(), Some(b' ' | b'\t')) {
                if let Some(last) = fields.last_mut() {
                    last.continuation.push(line);
                }
                continue;
            }
            if let Some(name) = field_name(line) {
                let raw = &line[name.len() + 1..];
                fields.push(HeaderField {
                    name,
                    first: raw,
                    continuation: Vec::new(),
                });
            }
        }
        fields.into_iter()
    }
}

impl From<Vec<u8>> for Message {
    fn from(value: Vec<u8>) -> Self {
        Self::new(value)
    }
}

impl From<&'static [u8]> for Message {
    fn from(value: &'static [u8]) -> Self {
        Self::new(Bytes::from_static(value))
    }
}

/// The serialized form: the whole message as one byte string (a spooled part is read).
#[derive(Serialize, Deserialize)]
#[serde(rename = "Message")]
struct Wire {
    bytes: Bytes,
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let whole = self.in_memory().map_err(serde::ser::Error::custom)?;
        Wire { bytes: whole.bytes }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Wire::deserialize(deserializer).map(|wire| Self::new(wire.bytes))
    }
}

struct HeaderField<'a> {
    name: &'a str,
    first: &'a [u8],
    continuation: Vec<&'a [u8]>,
}

impl HeaderField<'_> {
    fn value(&self) -> String {
        let mut value = String::from_utf8_lossy(trim_eol(self.first)).into_owned();
        for line in &self.continuation {
            value.push_str(&String::from_utf8_lossy(trim_eol(line)));
        }
        value.trim().to_owned()
    }
}

/// The length of the header section at the start of `bytes`: up to and including the blank
/// line that ends it, or all of `bytes` when there is none.
pub fn header_section_len(bytes: &[u8]) -> usize {
    let mut start = 0;
    for line in lines(bytes) {
        let end = start + line.len();
        if is_blank(line) {
            return end;
        }
        start = end;
    }
    bytes.len()
}

/// Splits into lines that keep their terminator (LF, CRLF, or none at the end).
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|&b| b == b'\n')
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn field_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = std::str::from_utf8(&line[..colon]).ok()?;
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic());
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] =
        b"Subject: hello\r\n world\r\nX-Tag: one\r\nx-tag: two\r\n\r\nbody line\r\nX-Tag: not a header\r\n";

    #[test]
    fn reads_folded_and_repeated_headers() {
        let m = Message::from(SAMPLE);
        assert_eq!(m.header("subject").as_deref(), Some("hello world"));
        assert_eq!(m.headers("X-TAG"), vec!["one", "two"]);
        assert_eq!(m.count_headers("x-tag"), 2);
        assert_eq!(m.header("Missing"), None);
        assert_eq!(m.body(), b"body line\r\nX-Tag: not a header\r\n");
    }

    #[test]
    fn prepends_a_header() {
        let m = Message::from(SAMPLE)
            .with_header_prepended("Received", "from a by b")
            .unwrap();
        assert!(m
            .as_bytes()
            .starts_with(b"Received: from a by b\r\nSubject: hello"));
        assert_eq!(m.count_headers("received"), 1);
    }

    #[test]
    fn refuses_header_injection() {
        let m = Message::from(SAMPLE);
        assert_eq!(
            m.with_header_prepended("X", "a\r\nBcc: x"),
            Err(HeaderError::LineBreakInValue)
        );
        assert!(m.with_header_prepended("Bad Name", "v").is_err());
    }

    #[test]
    fn removes_every_occurrence_with_continuations_but_not_in_body() {
        let m = Message::from(SAMPLE)
            .without_header("subject")
            .without_header("x-tag");
        assert_eq!(
            m.as_bytes(),
            b"\r\nbody line\r\nX-Tag: not a header\r\n".as_slice()
        );
    }

    #[test]
    fn bare_lf_messages_work_too() {
        let m = Message::from(&b"A: 1\nB: 2\n\nbody\n"[..]);
        assert_eq!(m.header("b").as_deref(), Some("2"));
        assert_eq!(m.body(), b"body\n");
    }

    #[test]
    fn message_without_body() {
        let m = Message::from(&b"A: 1\r\n"[..]);
        assert_eq!(m.header("a").as_deref(), Some("1"));
        assert!(m.body().is_empty());
    }

    #[test]
    fn a_spooled_message_is_its_head_then_its_file() {
        let dir = std::env::temp_dir().join(format!("envoi-spooled-{}", std::process::id()));
        std::fs::write(&dir, b"body \xe9\r\n").unwrap();
        let rest = SpooledBody::new(dir.clone(), 8, true);
        let m = Message::spooled(&b"Subject: s\r\n\r\n"[..], rest)
            .with_header_prepended("Received", "from x")
            .unwrap();
        assert_eq!(m.len(), 32 + 8);
        assert_eq!(m.resident_len(), 32);
        assert!(m.has_8bit());
        assert_eq!(m.header("subject").as_deref(), Some("s"));
        let whole = m.in_memory().unwrap();
        assert_eq!(
            whole.as_bytes(),
            b"Received: from x\r\nSubject: s\r\n\r\nbody \xe9\r\n"
        );
        // Serialized, it is the whole message, read back into memory.
        let json = serde_json::to_string(&m).unwrap();
        let back: Message = serde_json::from_str(&json).unwrap();
        assert_eq!(back, whole);
        std::fs::remove_file(&dir).unwrap();
        assert!(
            m.in_memory().is_err(),
            "a missing file is an error, not a short message"
        );
    }

    #[test]
    fn detects_8bit() {
        assert!(!Message::from(SAMPLE).has_8bit());
        assert!(Message::new("Subject: café\r\n\r\n".as_bytes().to_vec()).has_8bit());
    }
}
