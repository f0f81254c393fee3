//! Command lines as sent on the wire.
//!
//! # Layout
//! - [`mail_from`], [`rcpt_to`]: the transaction commands with their ESMTP parameters, DSN's
//!   (RFC 3461) included when the peer offers it.
//! - [`auth_plain`]: the AUTH PLAIN initial response.

use base64::Engine as _;
use envoi_types::{dsn, Address, DsnRequest, Sender};

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

/// Appends `MAIL FROM:<sender> [params]\r\n` to `out`, the pipelined batch being built, with
/// `RET` and `ENVID` from `dsn` when given (the peer offers DSN).
pub fn mail_from(out: &mut Vec<u8>, sender: &Sender, params: MailParams, dsn: Option<&DsnRequest>) {
    // Appended in place rather than built with `format!` and copied: one command per message
    // (malloc/free and fmt were 16 % of envoi's instructions in bench/relay/README.md,
    // "Profile" item 4).
    out.extend_from_slice(b"MAIL FROM:<");
    out.extend_from_slice(sender.as_str().as_bytes());
    out.push(b'>');
    if let Some(size) = params.size {
        out.extend_from_slice(b" SIZE=");
        push_decimal(out, size);
    }
    if params.eight_bit {
        out.extend_from_slice(b" BODY=8BITMIME");
    }
    if params.smtputf8 {
        out.extend_from_slice(b" SMTPUTF8");
    }
    if let Some(ret) = dsn.and_then(|d| d.ret) {
        out.extend_from_slice(b" RET=");
        out.extend_from_slice(ret.keyword().as_bytes());
    }
    if let Some(envid) = dsn.and_then(|d| d.envid.as_deref()) {
        out.extend_from_slice(b" ENVID=");
        out.extend_from_slice(dsn::envid_param(envid).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `RCPT TO:<recipient> [params]\r\n` to `out`, with the recipient's `NOTIFY` and
/// `ORCPT` from `dsn` when given (the peer offers DSN).
pub fn rcpt_to(out: &mut Vec<u8>, recipient: &Address, dsn: Option<&DsnRequest>) {
    out.extend_from_slice(b"RCPT TO:<");
    out.extend_from_slice(recipient.as_str().as_bytes());
    out.push(b'>');
    if let Some(params) = dsn.and_then(|d| d.recipient(recipient)) {
        if let Some(notify) = params.notify {
            out.extend_from_slice(b" NOTIFY=");
            out.extend_from_slice(notify.keyword().as_bytes());
        }
        if let Some(orcpt) = &params.orcpt {
            out.extend_from_slice(b" ORCPT=");
            out.extend_from_slice(orcpt.param().as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, without going through `fmt`.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    // Each pass removes a digit; u64::MAX has 20.
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
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
    fn decimal() {
        for n in [0, 7, 10, 4096, 1_000_000_007, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn dsn_parameters_are_xtext_encoded() {
        use envoi_types::{Notify, OriginalRecipient, RecipientDsn, Ret};
        let rcpt = Address::parse("c@d.net").unwrap();
        let dsn = DsnRequest {
            ret: Some(Ret::Headers),
            envid: Some("a+b=c".into()),
            recipients: vec![RecipientDsn {
                recipient: rcpt.clone(),
                notify: Notify::parse("SUCCESS,DELAY"),
                orcpt: OriginalRecipient::parse("rfc822;x+2By@d.net"),
            }],
        };
        let mut out = Vec::new();
        mail_from(&mut out, &Sender::Null, MailParams::default(), Some(&dsn));
        rcpt_to(&mut out, &rcpt, Some(&dsn));
        rcpt_to(&mut out, &Address::parse("e@d.net").unwrap(), Some(&dsn));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "MAIL FROM:<> RET=HDRS ENVID=a+2Bb+3Dc\r\n\
             RCPT TO:<c@d.net> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x+2By@d.net\r\n\
             RCPT TO:<e@d.net>\r\n"
        );
    }

    #[test]
    fn formats() {
        let sender = Sender::parse("a@b.org").unwrap();
        let params = MailParams {
            size: Some(12),
            eight_bit: true,
            smtputf8: false,
        };
        let line = |sender: &Sender, params| {
            let mut out = Vec::new();
            mail_from(&mut out, sender, params, None);
            out
        };
        assert_eq!(
            line(&sender, params),
            b"MAIL FROM:<a@b.org> SIZE=12 BODY=8BITMIME\r\n"
        );
        assert_eq!(
            line(&Sender::Null, MailParams::default()),
            b"MAIL FROM:<>\r\n"
        );
        let all = MailParams {
            size: Some(0),
            eight_bit: false,
            smtputf8: true,
        };
        assert_eq!(
            line(&sender, all),
            b"MAIL FROM:<a@b.org> SIZE=0 SMTPUTF8\r\n"
        );
        let mut rcpt = b"MAIL FROM:<>\r\n".to_vec();
        rcpt_to(&mut rcpt, &Address::parse("c@d.net").unwrap(), None);
        assert_eq!(rcpt, b"MAIL FROM:<>\r\nRCPT TO:<c@d.net>\r\n");
        assert_eq!(
            auth_plain("user", "pass"),
            b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
        );
    }
}
