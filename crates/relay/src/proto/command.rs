//! Command lines as sent on the wire.
//!
//! # Layout
//! - [`mail_from`], [`rcpt_to`]: the transaction commands with their ESMTP parameters.
//! - [`auth_plain`]: the AUTH PLAIN initial response.

use base64::Engine as _;
use envoi_types::{Address, Sender};

/// ESMTP parameters for MAIL FROM, decided from the message and the peer's capabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=n` (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=8BITMIME` (RFC 6152).
    pub eight_bit: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
}

/// `MAIL FROM:<sender> [params]\r\n`.
pub fn mail_from(sender: &Sender, params: MailParams) -> Vec<u8> {
    let mut line = format!("MAIL FROM:<{}>", sender.as_str());
    if let Some(size) = params.size {
        line.push_str(&format!(" SIZE={size}"));
    }
    if params.eight_bit {
        line.push_str(" BODY=8BITMIME");
    }
    if params.smtputf8 {
        line.push_str(" SMTPUTF8");
    }
    line.push_str("\r\n");
    line.into_bytes()
}

/// `RCPT TO:<recipient>\r\n`.
pub fn rcpt_to(recipient: &Address) -> Vec<u8> {
    format!("RCPT TO:<{}>\r\n", recipient.as_str()).into_bytes()
}

/// `AUTH PLAIN <base64(\0user\0password)>\r\n` (RFC 4616).
pub fn auth_plain(username: &str, password: &str) -> Vec<u8> {
    let token = format!("\0{username}\0{password}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(token);
    format!("AUTH PLAIN {encoded}\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let sender = Sender::parse("a@b.org").unwrap();
        let params = MailParams {
            size: Some(12),
            eight_bit: true,
            smtputf8: false,
        };
        assert_eq!(
            mail_from(&sender, params),
            b"MAIL FROM:<a@b.org> SIZE=12 BODY=8BITMIME\r\n"
        );
        assert_eq!(
            mail_from(&Sender::Null, MailParams::default()),
            b"MAIL FROM:<>\r\n"
        );
        assert_eq!(
            auth_plain("user", "pass"),
            b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
        );
    }
}
