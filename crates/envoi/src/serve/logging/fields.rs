//! The text format's fields, written so that a line parses back into the same fields as its
//! JSON form: `key=value`, the value bare when it is one word, else quoted as a Rust string
//! literal (`"..."` with `\"`, `\\` and control characters escaped).
//!
//! tracing's own text format writes `%value` fields bare even when they hold spaces
//! (`reply=250 2.0.0 Ok`), which no parser can split; this one quotes them
//! (`reply="250 2.0.0 Ok"`). String fields stay quoted as tracing writes them, and the
//! event's message stays bare, first.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

/// The field formatter of the text format.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuotedFields;

impl<'a> MakeVisitor<Writer<'a>> for QuotedFields {
    type Visitor = QuotedVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> Self::Visitor {
        QuotedVisitor {
            writer,
            first: true,
            result: Ok(()),
        }
    }
}

/// Writes one event's or span's fields.
pub struct QuotedVisitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl QuotedVisitor<'_> {
    fn write(&mut self, field: &Field, value: &dyn fmt::Display, quoted: bool) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        let name = field.name();
        self.result = match (name, quoted) {
            ("message", _) => write!(self.writer, "{separator}{value}"),
            (_, true) => write!(self.writer, "{separator}{name}={:?}", value.to_string()),
            (_, false) => write!(self.writer, "{separator}{name}={value}"),
        };
    }
}

/// True when `text` cannot be written bare: empty, or holding a space, a quote, `=` or a
/// control character. (A bare value ends at a space, so a backslash may stay: the edge
/// writes a client's control characters as `\x1b`, readable as they are.)
fn needs_quotes(text: &str) -> bool {
    text.is_empty()
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '='))
}

impl Visit for QuotedVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, &value, true);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        let quoted = needs_quotes(&text);
        self.write(field, &text, quoted);
    }
}

impl VisitOutput<fmt::Result> for QuotedVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for QuotedVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::needs_quotes;

    #[test]
    fn one_word_is_bare_anything_else_quoted() {
        assert!(!needs_quotes("01JD5Q7Y1J6XG0Z4Y7N8KQ3WQ0"));
        assert!(!needs_quotes("unknown[127.0.0.1]"));
        assert!(needs_quotes("250 2.0.0 Ok"));
        assert!(needs_quotes(""));
        assert!(needs_quotes("a=b"));
        assert!(needs_quotes("say \"hi\""));
        assert!(needs_quotes("tab\there"));
    }
}
