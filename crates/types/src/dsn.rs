//! What a sender asked of delivery status notifications (RFC 3461): `RET` and `ENVID` on
//! MAIL, `NOTIFY` and `ORCPT` per recipient on RCPT.
//!
//! Values are kept decoded (xtext undone, [`crate::xtext`]); [`Ret::keyword`],
//! [`Notify::keyword`], [`OriginalRecipient::param`] and [`envid_param`] give them back in
//! the wire form a next hop receives. Parsing refuses what RFC 3461 §4 does not allow, and
//! any decoded control character (it would end a header line of the report).

use serde::{Deserialize, Serialize};

use crate::{xtext, Address};

/// The longest `ENVID` value, in octets as sent (RFC 3461 §4.4).
pub const MAX_ENVID_LEN: usize = 100;
/// The longest `ORCPT` value, in octets as sent (RFC 3461 §4.2).
pub const MAX_ORCPT_LEN: usize = 500;

/// `RET=`: what a failure report returns of the message (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ret {
    /// `RET=FULL`: the whole message.
    Full,
    /// `RET=HDRS`: its header section only.
    Headers,
}

impl Ret {
    /// `FULL` or `HDRS` (any case); `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        if value.eq_ignore_ascii_case("FULL") {
            Some(Self::Full)
        } else if value.eq_ignore_ascii_case("HDRS") {
            Some(Self::Headers)
        } else {
            None
        }
    }

    /// The parameter's value on the wire.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Headers => "HDRS",
        }
    }
}

/// `NOTIFY=`: which reports a recipient's sender wants (RFC 3461 §4.1). All false is
/// `NEVER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// `SUCCESS`: a report on delivery (or on relaying to a hop that cannot report it).
    pub success: bool,
    /// `FAILURE`: a report when delivery fails for good.
    pub failure: bool,
    /// `DELAY`: a warning while delivery is delayed.
    pub delay: bool,
}

impl Notify {
    /// `NOTIFY=NEVER`.
    pub const NEVER: Self = Self {
        success: false,
        failure: false,
        delay: false,
    };

    /// What a recipient without `NOTIFY` gets: failures and delays, as RFC 3461 §4.1 allows
    /// and Postfix does.
    pub const DEFAULT: Self = Self {
        success: false,
        failure: true,
        delay: true,
    };

    /// `NEVER`, or a comma-separated list of `SUCCESS`, `FAILURE`, `DELAY` (any case, each at
    /// most once); `None` for anything else, `NEVER` combined with another keyword included.
    pub fn parse(value: &str) -> Option<Self> {
        if value.eq_ignore_ascii_case("NEVER") {
            return Some(Self::NEVER);
        }
        let mut notify = Self::NEVER;
        for word in value.split(',') {
            let flag = if word.eq_ignore_ascii_case("SUCCESS") {
                &mut notify.success
            } else if word.eq_ignore_ascii_case("FAILURE") {
                &mut notify.failure
            } else if word.eq_ignore_ascii_case("DELAY") {
                &mut notify.delay
            } else {
                return None;
            };
            if *flag {
                return None;
            }
            *flag = true;
        }
        Some(notify)
    }

    /// The parameter's value on the wire: `NEVER` or the keywords, comma-separated.
    pub fn keyword(self) -> String {
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .into_iter()
        .filter_map(|(on, word)| on.then_some(word))
        .collect();
        if words.is_empty() {
            "NEVER".to_owned()
        } else {
            words.join(",")
        }
    }
}

/// `ORCPT=`: the recipient's address as the sender first gave it (RFC 3461 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalRecipient {
    /// The address type, as given (`rfc822`, `utf-8`...).
    pub address_type: String,
    /// The address, xtext decoded.
    pub address: String,
}

impl OriginalRecipient {
    /// `addr-type;xtext`, at most [`MAX_ORCPT_LEN`] octets, decoding to UTF-8 without control
    /// characters; `None` otherwise.
    pub fn parse(value: &str) -> Option<Self> {
        if value.len() > MAX_ORCPT_LEN {
            return None;
        }
        let (address_type, encoded) = value.split_once(';')?;
        let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        if address_type.is_empty() || !address_type.chars().all(atom) {
            return None;
        }
        let address = decode_text(encoded)?;
        (!address.is_empty()).then(|| Self {
            address_type: address_type.to_owned(),
            address,
        })
    }

    /// An `rfc822` original recipient (or `utf-8` for a non-ASCII address, RFC 6533 §3).
    pub fn of(address: &Address) -> Self {
        let address_type = if address.is_ascii() {
            "rfc822"
        } else {
            "utf-8"
        };
        Self {
            address_type: address_type.to_owned(),
            address: address.as_str().to_owned(),
        }
    }

    /// The parameter's value on the wire: `addr-type;xtext`.
    pub fn param(&self) -> String {
        format!(
            "{};{}",
            self.address_type,
            xtext::encode(self.address.as_bytes())
        )
    }
}

/// The `ENVID=` value, xtext decoded: at most [`MAX_ENVID_LEN`] octets as sent, decoding to
/// printable US-ASCII; `None` otherwise.
pub fn parse_envid(value: &str) -> Option<String> {
    if value.is_empty() || value.len() > MAX_ENVID_LEN {
        return None;
    }
    decode_text(value).filter(|id| id.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
}

/// The `ENVID=` value on the wire.
pub fn envid_param(envid: &str) -> String {
    xtext::encode(envid.as_bytes())
}

/// An xtext decoded to UTF-8 without control characters.
fn decode_text(encoded: &str) -> Option<String> {
    let text = String::from_utf8(xtext::decode(encoded).ok()?).ok()?;
    (!text.chars().any(char::is_control)).then_some(text)
}

/// The DSN parameters of one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientDsn {
    /// The recipient they belong to.
    pub recipient: Address,
    /// `NOTIFY=`, when given.
    pub notify: Option<Notify>,
    /// `ORCPT=`, when given.
    pub orcpt: Option<OriginalRecipient>,
}

/// Every DSN parameter of an envelope. [`DsnRequest::default`] is a message without any:
/// it is reported as before the extension (failures, and delays when warnings are on).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DsnRequest {
    /// `RET=`, when given.
    pub ret: Option<Ret>,
    /// `ENVID=`, decoded, when given.
    pub envid: Option<String>,
    /// The parameters of the recipients that had some; a recipient not listed had none.
    pub recipients: Vec<RecipientDsn>,
}

impl DsnRequest {
    /// True when no parameter was given at all.
    pub fn is_empty(&self) -> bool {
        self.ret.is_none() && self.envid.is_none() && self.recipients.is_empty()
    }

    /// The parameters given for `recipient`, if any.
    pub fn recipient(&self, recipient: &Address) -> Option<&RecipientDsn> {
        self.recipients.iter().find(|r| &r.recipient == recipient)
    }

    /// What `recipient`'s sender wants reported: its `NOTIFY`, else [`Notify::DEFAULT`].
    pub fn notify(&self, recipient: &Address) -> Notify {
        self.recipient(recipient)
            .and_then(|r| r.notify)
            .unwrap_or(Notify::DEFAULT)
    }

    /// `recipient`'s `ORCPT`, if given.
    pub fn orcpt(&self, recipient: &Address) -> Option<&OriginalRecipient> {
        self.recipient(recipient).and_then(|r| r.orcpt.as_ref())
    }

    /// Records `params` unless the recipient has parameters already (a mailbox named twice
    /// keeps its first occurrence, as [`crate::Envelope::dedup_recipients`] does); parameters
    /// with neither `NOTIFY` nor `ORCPT` are not kept.
    pub fn add_recipient(&mut self, params: RecipientDsn) {
        let known = self.recipient(&params.recipient).is_some();
        if !known && (params.notify.is_some() || params.orcpt.is_some()) {
            self.recipients.push(params);
        }
    }

    /// Keeps only the parameters of `recipients`.
    pub fn retain_recipients(&mut self, recipients: &[Address]) {
        self.recipients
            .retain(|r| recipients.contains(&r.recipient));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_lists_parse_and_print() {
        assert_eq!(Notify::parse("never"), Some(Notify::NEVER));
        let all = Notify::parse("Success,FAILURE,delay").unwrap();
        assert_eq!(all.keyword(), "SUCCESS,FAILURE,DELAY");
        assert_eq!(Notify::parse("DELAY").unwrap().keyword(), "DELAY");
        for bad in [
            "",
            "NEVER,SUCCESS",
            "SUCCESS,,DELAY",
            "FAILURE,FAILURE",
            "ALWAYS",
            "SUCCESS ",
        ] {
            assert_eq!(Notify::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn orcpt_is_type_and_decoded_xtext() {
        let orcpt = OriginalRecipient::parse("rfc822;a+2Bb@x.org").unwrap();
        assert_eq!(
            (orcpt.address_type.as_str(), orcpt.address.as_str()),
            ("rfc822", "a+b@x.org")
        );
        assert_eq!(orcpt.param(), "rfc822;a+2Bb@x.org");
        for bad in [
            "rfc822",
            ";a@x.org",
            "rfc822;",
            "rfc 822;a@x",
            "rfc822;a+0Db",
            "rfc822;a=b",
        ] {
            assert_eq!(OriginalRecipient::parse(bad), None, "{bad:?}");
        }
        assert!(OriginalRecipient::parse(&format!("rfc822;{}", "a".repeat(493))).is_some());
        assert!(OriginalRecipient::parse(&format!("rfc822;{}", "a".repeat(493 + 1))).is_none());
    }

    #[test]
    fn envid_is_printable_and_bounded() {
        assert_eq!(parse_envid("QQ+2B314").as_deref(), Some("QQ+314"));
        assert_eq!(envid_param("QQ+314"), "QQ+2B314");
        assert_eq!(parse_envid(""), None);
        assert_eq!(parse_envid("a+0A"), None);
        assert_eq!(parse_envid("+C3+A9"), None);
        assert!(parse_envid(&"x".repeat(MAX_ENVID_LEN)).is_some());
        assert!(parse_envid(&"x".repeat(MAX_ENVID_LEN + 1)).is_none());
    }

    #[test]
    fn recipients_default_to_failure_and_delay() {
        let a = Address::parse("a@x.org").unwrap();
        let b = Address::parse("b@x.org").unwrap();
        let mut request = DsnRequest::default();
        assert!(request.is_empty());
        request.add_recipient(RecipientDsn {
            recipient: a.clone(),
            notify: Some(Notify::NEVER),
            orcpt: None,
        });
        assert_eq!(request.notify(&a), Notify::NEVER);
        assert_eq!(request.notify(&b), Notify::DEFAULT);
        request.retain_recipients(std::slice::from_ref(&b));
        assert!(request.is_empty());
    }
}
