//! The capabilities a server lists in its EHLO (or LHLO) reply.
//!
//! # Layout
//! - [`Capabilities`]: the extensions the client uses, parsed from the reply lines.

use envoi_types::Reply;

/// The extensions the client cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The server answered EHLO/LHLO (false after falling back to HELO: no extensions).
    pub extended: bool,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE (RFC 1870), with its limit; `Some(0)` means "no fixed limit".
    pub size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// AUTH mechanisms (RFC 4954), upper case.
    pub auth: Vec<String>,
    /// DSN (RFC 3461): the server takes `RET`, `ENVID`, `NOTIFY` and `ORCPT`, and reports
    /// on delivery itself.
    pub dsn: bool,
}

impl Capabilities {
    /// Parses an EHLO reply: the first line is the greeting, each further line a keyword and
    /// its parameters. Unknown keywords are ignored.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut caps = Self {
            extended: true,
            ..Self::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => caps.pipelining = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "STARTTLS" => caps.starttls = true,
                "DSN" => caps.dsn = true,
                "AUTH" => caps.auth = words.map(str::to_ascii_uppercase).collect(),
                _ => {}
            }
        }
        caps
    }

    /// True when the server offers this AUTH mechanism.
    pub fn offers_auth(&self, mechanism: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(mechanism))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ehlo_lines() {
        let reply = Reply::parse(
            b"250-mx.example hi\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-AUTH PLAIN login\r\n250-dsn\r\n250 STARTTLS\r\n",
        )
        .unwrap();
        let caps = Capabilities::from_ehlo(&reply);
        assert!(caps.pipelining && caps.eight_bit_mime && caps.starttls && !caps.smtputf8);
        assert!(caps.dsn);
        assert_eq!(caps.size, Some(1000));
        assert!(caps.offers_auth("plain") && caps.offers_auth("LOGIN"));
    }
}
