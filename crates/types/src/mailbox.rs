//! The RFC 5321 §4.1.2 grammar of a mailbox, with RFC 6531's UTF-8, as plain functions.
//!
//! ```text
//! Mailbox       = Local-part "@" ( Domain / address-literal )
//! Local-part    = Dot-string / Quoted-string
//! Dot-string    = Atom *("." Atom)           ; so no "@", no empty atom
//! Quoted-string = DQUOTE *( qtextSMTP / "\" %d32-126 ) DQUOTE
//! Domain        = sub-domain *("." sub-domain)
//! A-d-l         = At-domain *( "," At-domain ) ; a source route, accepted and ignored
//! ```
//!
//! Control characters are refused everywhere, UTF-8 ones too.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::address::AddressError;

/// The length of the local part at the start of `text` (a dot-string up to the first `@`, or
/// a quoted string), checked against the grammar. `text[len]` is then the `@`.
pub(crate) fn local_part_len(text: &str) -> Result<usize, AddressError> {
    if text.starts_with('"') {
        return quoted_len(text);
    }
    let end = text.find('@').ok_or(AddressError::NoDomain)?;
    let local = &text[..end];
    if local.is_empty() {
        return Err(AddressError::EmptyLocalPart);
    }
    if local.chars().any(forbidden) {
        return Err(AddressError::ForbiddenCharacter);
    }
    let atoms_ok = local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
    if atoms_ok {
        Ok(end)
    } else {
        Err(AddressError::BadLocalPart)
    }
}

/// A quoted string at the start of `text`, which must be followed by `@`.
fn quoted_len(text: &str) -> Result<usize, AddressError> {
    let mut chars = text.char_indices().skip(1);
    // Each pass takes one character, or an escape and the character it quotes.
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let end = i + 1;
                return match text[end..].chars().next() {
                    Some('@') => Ok(end),
                    None => Err(AddressError::NoDomain),
                    Some(_) => Err(AddressError::BadLocalPart),
                };
            }
            '\\' => match chars.next() {
                Some((_, q)) if (' '..='~').contains(&q) => {}
                Some((_, q)) if q.is_control() => return Err(AddressError::ForbiddenCharacter),
                _ => return Err(AddressError::BadLocalPart),
            },
            c if c.is_control() => return Err(AddressError::ForbiddenCharacter),
            c if c == ' ' || c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c) => {}
            c if !c.is_ascii() => {}
            _ => return Err(AddressError::BadLocalPart),
        }
    }
    Err(AddressError::BadLocalPart)
}

/// True for `atext` (RFC 5322 §3.2.3) and UTF-8 beyond ASCII (RFC 6531 §3.3).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control())
}

/// Characters never allowed outside quotes, reported as such rather than as bad syntax.
fn forbidden(c: char) -> bool {
    c.is_control() || c.is_whitespace() || c == '<' || c == '>'
}

/// True for a domain name (letters, digits and hyphens in non-empty labels, UTF-8 allowed)
/// or an address literal: `[192.0.2.1]`, `[IPv6:2001:db8::1]` or `[tag:content]`.
pub fn is_domain(domain: &str) -> bool {
    if let Some(literal) = domain.strip_prefix('[') {
        return literal.strip_suffix(']').is_some_and(is_address_literal);
    }
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || (!c.is_ascii() && !c.is_control()))
        })
}

/// The inside of `[...]` (RFC 5321 §4.1.3).
fn is_address_literal(inside: &str) -> bool {
    if inside.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let Some((tag, content)) = inside.split_once(':') else {
        return false;
    };
    if tag.eq_ignore_ascii_case("IPv6") {
        return content.parse::<Ipv6Addr>().is_ok();
    }
    let tag_ok = !tag.is_empty()
        && !tag.ends_with('-')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && tag.as_bytes()[0].is_ascii_alphanumeric();
    // dcontent: printable ASCII but "[", "\" and "]".
    tag_ok && !content.is_empty() && content.bytes().all(|b| matches!(b, 33..=90 | 94..=126))
}

/// The mailbox after a source route (`@a.example,@b.example:user@c.example` gives
/// `user@c.example`), or `None` when `path` does not start with a well-formed route.
/// RFC 5321 Appendix C: a server accepts and ignores the route.
pub fn strip_source_route(path: &str) -> Option<&str> {
    let mut rest = path;
    // Each pass takes one `@domain` and the `,` or `:` after it.
    loop {
        rest = rest.strip_prefix('@')?;
        let end = if rest.starts_with('[') {
            rest.find(']')? + 1
        } else {
            rest.find([',', ':'])?
        };
        if !is_domain(&rest[..end]) {
            return None;
        }
        match rest[end..].chars().next()? {
            ',' => rest = &rest[end + 1..],
            ':' => return Some(&rest[end + 1..]),
            _ => return None,
        }
    }
}
