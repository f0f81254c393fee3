//! RFC 3461 §4 "xtext": how DSN parameter values travel in MAIL and RCPT.
//!
//! An xtext is printable US-ASCII (`!` to `~`) in which `+` and `=` (and any other octet) are
//! written as `+` and two hexadecimal digits. [`decode`] accepts lower-case digits too, as
//! Postfix does; [`encode`] writes upper case, as the RFC asks.

/// Why a string is not xtext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XtextError {
    /// A character outside `!`..`~`, or a bare `=`.
    #[error("character not allowed in xtext")]
    BadChar,
    /// A `+` not followed by two hexadecimal digits.
    #[error("'+' not followed by two hexadecimal digits")]
    BadHex,
}

/// The octets an xtext stands for.
///
/// # Errors
/// [`XtextError`] when `text` is not xtext.
pub fn decode(text: &str) -> Result<Vec<u8>, XtextError> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'+' => {
                let high = bytes.next().and_then(hex_value).ok_or(XtextError::BadHex)?;
                let low = bytes.next().and_then(hex_value).ok_or(XtextError::BadHex)?;
                out.push(high << 4 | low);
            }
            b'=' => return Err(XtextError::BadChar),
            b'!'..=b'~' => out.push(byte),
            _ => return Err(XtextError::BadChar),
        }
    }
    Ok(out)
}

/// The xtext of `octets`: `+`, `=` and everything outside `!`..`~` as `+XX`.
pub fn encode(octets: &[u8]) -> String {
    let mut out = String::with_capacity(octets.len());
    for &byte in octets {
        match byte {
            b'+' | b'=' => push_hex(&mut out, byte),
            b'!'..=b'~' => out.push(char::from(byte)),
            _ => push_hex(&mut out, byte),
        }
    }
    out
}

fn push_hex(out: &mut String, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.push('+');
    out.push(char::from(DIGITS[usize::from(byte >> 4)]));
    out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_hex_pairs_and_plain_characters() {
        assert_eq!(decode("a+2Bb+3dc").unwrap(), b"a+b=c");
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(decode("x+2"), Err(XtextError::BadHex));
        assert_eq!(decode("x+G0"), Err(XtextError::BadHex));
        assert_eq!(decode("a=b"), Err(XtextError::BadChar));
        assert_eq!(decode("a b"), Err(XtextError::BadChar));
        assert_eq!(decode("é"), Err(XtextError::BadChar));
    }

    #[test]
    fn encodes_what_xtext_cannot_hold() {
        assert_eq!(encode(b"a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(encode("é".as_bytes()), "+C3+A9");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
    }
}
