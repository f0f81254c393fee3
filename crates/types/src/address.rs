//! Mailbox addresses (`local@domain`) and the reverse path. The grammar they follow is in
//! [`crate::mailbox`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mailbox;

/// Why a string is not a usable mailbox address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The address has no `@` separating local part and domain.
    #[error("address has no '@domain' part")]
    NoDomain,
    /// The local part is empty.
    #[error("address has an empty local part")]
    EmptyLocalPart,
    /// The local part is neither a dot-string (atoms joined by single dots, so no `@`) nor a
    /// quoted string.
    #[error("address has an invalid local part")]
    BadLocalPart,
    /// The domain is empty or not a valid domain or address literal.
    #[error("address has an invalid domain")]
    BadDomain,
    /// The address contains control characters, or whitespace or angle brackets outside
    /// quotes.
    #[error("address contains a forbidden character")]
    ForbiddenCharacter,
    /// The address is longer than RFC 5321 allows (256 octets for a path).
    #[error("address is too long")]
    TooLong,
}

/// A mailbox address `local-part@domain`, as used in SMTP paths: the local part is a
/// dot-string or a quoted string, the domain a name or an address literal (RFC 5321 §4.1.2).
/// It prints exactly as it was parsed, so the printed form parses to the same address.
///
/// The local part keeps its case (RFC 5321 §2.4: it may be case-sensitive); the domain is
/// compared case-insensitively by [`Address::domain_lowercase`]. UTF-8 in either part is allowed
/// (RFC 6531); [`Address::is_ascii`] tells whether SMTPUTF8 is needed to transmit it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address {
    text: String,
    at: usize,
}

/// Longest path RFC 5321 §4.5.3.1.3 allows, less the angle brackets.
const MAX_ADDRESS_LEN: usize = 254;

impl Address {
    /// Parses `local@domain` (without angle brackets or source route). An unquoted local
    /// part cannot hold `@`: `a@b@c` is refused, never read as `a@b` at `c`.
    ///
    /// # Errors
    /// Returns an [`AddressError`] naming what is wrong with the text.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        if text.len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong);
        }
        let at = mailbox::local_part_len(text)?;
        if !mailbox::is_domain(&text[at + 1..]) {
            return Err(AddressError::BadDomain);
        }
        Ok(Self {
            text: text.to_owned(),
            at,
        })
    }

    /// The whole address, `local@domain`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The local part, quotes and all when quoted.
    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }

    /// The domain (or address literal) after the local part's `@`, as written.
    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }

    /// The domain in lower case, the form used to compare and route.
    pub fn domain_lowercase(&self) -> String {
        self.domain().to_lowercase()
    }

    /// True when the address is pure ASCII (no SMTPUTF8 needed).
    pub fn is_ascii(&self) -> bool {
        self.text.is_ascii()
    }

    /// What makes two addresses the same mailbox: the local part exactly as written (it may be
    /// case-sensitive, RFC 5321 §2.4) and the domain in lower case.
    pub fn mailbox_key(&self) -> (&str, String) {
        (self.local_part(), self.domain_lowercase())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Address> for String {
    fn from(value: Address) -> Self {
        value.text
    }
}

/// The reverse path of an envelope: who gets bounces.
///
/// The null sender `<>` is its own variant so that "never bounce a bounce" cannot be
/// confused with an address that happens to be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sender {
    /// The null reverse path `<>`: bounces and other notifications use it.
    Null,
    /// An ordinary sender address.
    Address(Address),
}

impl Sender {
    /// Parses the text between the angle brackets of `MAIL FROM:<...>`; empty text is the null sender.
    ///
    /// # Errors
    /// Returns an [`AddressError`] when the text is neither empty nor an address.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        if text.is_empty() {
            Ok(Self::Null)
        } else {
            Address::parse(text).map(Self::Address)
        }
    }

    /// True for the null sender `<>`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The address, unless this is the null sender.
    pub fn address(&self) -> Option<&Address> {
        match self {
            Self::Null => None,
            Self::Address(address) => Some(address),
        }
    }

    /// The text between the angle brackets: empty for the null sender.
    pub fn as_str(&self) -> &str {
        self.address().map_or("", Address::as_str)
    }
}

impl fmt::Display for Sender {
    /// Formats as an SMTP path: `<>` or `<local@domain>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.as_str())
    }
}

impl From<Address> for Sender {
    fn from(value: Address) -> Self {
        Self::Address(value)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_local_and_domain() {
        let a = Address::parse("Alice.B@Example.ORG").unwrap();
        assert_eq!(a.local_part(), "Alice.B");
        assert_eq!(a.domain(), "Example.ORG");
        assert_eq!(a.domain_lowercase(), "example.org");
        assert!(a.is_ascii());
    }

    #[test]
    fn quoted_local_part_with_at_uses_last_at() {
        let a = Address::parse("\"a@b\"@example.org").unwrap();
        assert_eq!(a.domain(), "example.org");
    }

    #[test]
    fn utf8_address_needs_smtputf8() {
        let a = Address::parse("jörg@bücher.example").unwrap();
        assert!(!a.is_ascii());
    }

    #[test]
    fn rejects_bad_addresses() {
        assert_eq!(Address::parse("nodomain"), Err(AddressError::NoDomain));
        assert_eq!(Address::parse("@x.org"), Err(AddressError::EmptyLocalPart));
        assert_eq!(Address::parse("a@"), Err(AddressError::BadDomain));
        assert_eq!(Address::parse("a@b..c"), Err(AddressError::BadDomain));
        assert_eq!(
            Address::parse("a b@c.org"),
            Err(AddressError::ForbiddenCharacter)
        );
        assert_eq!(
            Address::parse("a\0@c.org"),
            Err(AddressError::ForbiddenCharacter)
        );
        let long = format!("{}@example.org", "x".repeat(300));
        assert_eq!(Address::parse(&long), Err(AddressError::TooLong));
    }

    #[test]
    fn address_literal_domain() {
        assert!(Address::parse("postmaster@[127.0.0.1]").is_ok());
        assert!(Address::parse("postmaster@[IPv6:2001:db8::1]").is_ok());
        assert!(Address::parse("postmaster@[x-tag:abc]").is_ok());
        for bad in [
            "a@[]",
            "a@[127.0.0]",
            "a@[IPv6:nothing]",
            "a@[127.0.0.1",
            "a@[:x]",
        ] {
            assert_eq!(Address::parse(bad), Err(AddressError::BadDomain), "{bad}");
        }
    }

    #[test]
    fn an_unquoted_local_part_is_a_dot_string() {
        assert_eq!(Address::parse("a@b@c.org"), Err(AddressError::BadDomain));
        for bad in [
            "a..b@c.org",
            ".a@c.org",
            "a.@c.org",
            "a(b)@c.org",
            "a\\b@c.org",
        ] {
            assert_eq!(
                Address::parse(bad),
                Err(AddressError::BadLocalPart),
                "{bad}"
            );
        }
        let a = Address::parse("o'hara+tag/x=y@c.org").unwrap();
        assert_eq!((a.local_part(), a.domain()), ("o'hara+tag/x=y", "c.org"));
    }

    #[test]
    fn quoted_local_parts() {
        let a = Address::parse("\"a b\\\"c@d\"@example.org").unwrap();
        assert_eq!(a.local_part(), "\"a b\\\"c@d\"");
        assert_eq!(a.domain(), "example.org");
        assert!(Address::parse("\"\"@example.org").is_ok());
        assert_eq!(
            Address::parse("\"a\"b@c.org"),
            Err(AddressError::BadLocalPart)
        );
        assert_eq!(Address::parse("\"a@c.org"), Err(AddressError::BadLocalPart));
        assert_eq!(Address::parse("\"a\""), Err(AddressError::NoDomain));
        assert_eq!(
            Address::parse("\"a\tb\"@c.org"),
            Err(AddressError::ForbiddenCharacter)
        );
    }

    #[test]
    fn source_routes_are_stripped_when_well_formed() {
        use crate::mailbox::strip_source_route;
        assert_eq!(strip_source_route("@a.org,@b.org:u@c.org"), Some("u@c.org"));
        assert_eq!(strip_source_route("@[IPv6:::1]:u@c.org"), Some("u@c.org"));
        for bad in [
            "@:u@c.org",
            "@a..org:u@c.org",
            "@a.org",
            "@a.org;u@c.org",
            "a@b",
        ] {
            assert_eq!(strip_source_route(bad), None, "{bad}");
        }
    }

    /// Text built from the characters that matter to the grammar.
    fn tricky() -> impl Strategy<Value = String> {
        let pieces = proptest::sample::select(vec![
            "a",
            "Z",
            "0",
            "@",
            ".",
            "\"",
            "\\",
            " ",
            "-",
            "[",
            "]",
            ":",
            "+",
            "é",
            "\u{85}",
            "\t",
            "(",
            "IPv6:",
            "::1",
            "127.0.0.1",
            "example",
            "org",
        ]);
        proptest::collection::vec(pieces, 0..16).prop_map(|p| p.concat())
    }

    proptest! {
        /// Anything accepted prints back to text that parses to the same address, and splits
        /// where the grammar says: an unquoted local part never holds `@`.
        #[test]
        fn what_is_accepted_prints_back_to_the_same_address(text in tricky()) {
            if let Ok(address) = Address::parse(&text) {
                let printed = address.to_string();
                prop_assert_eq!(Address::parse(&printed), Ok(address.clone()));
                prop_assert_eq!(
                    format!("{}@{}", address.local_part(), address.domain()),
                    printed
                );
                prop_assert!(address.local_part().starts_with('"')
                    || !address.local_part().contains('@'));
                prop_assert!(!address.domain().contains('@'));
            }
        }

        /// Addresses made by the grammar are all accepted, and split where they were joined.
        #[test]
        fn grammatical_addresses_are_accepted(
            atoms in proptest::collection::vec("[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,5}", 1..4),
            quoted in proptest::option::of("([ !#-\\[\\]-~]|\\\\[ -~]){0,8}"),
            labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,4}[a-z0-9])?", 1..4),
        ) {
            let local = match quoted {
                Some(q) => format!("\"{q}\""),
                None => atoms.join("."),
            };
            let domain = labels.join(".");
            let address = Address::parse(&format!("{local}@{domain}"));
            prop_assert!(address.is_ok(), "{local}@{domain}: {address:?}");
            let address = address.unwrap();
            prop_assert_eq!(address.local_part(), local.as_str());
            prop_assert_eq!(address.domain(), domain.as_str());
        }
    }

    #[test]
    fn null_sender_is_distinct() {
        assert!(Sender::parse("").unwrap().is_null());
        assert_eq!(Sender::Null.to_string(), "<>");
        let s = Sender::parse("a@b.org").unwrap();
        assert!(!s.is_null());
        assert_eq!(s.to_string(), "<a@b.org>");
    }

    #[test]
    fn serde_round_trip_validates() {
        let a = Address::parse("a@b.org").unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"a@b.org\"");
        assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), a);
        assert!(serde_json::from_str::<Address>("\"bad\"").is_err());
    }
}
