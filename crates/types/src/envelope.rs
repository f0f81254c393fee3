//! The envelope: everything a queue must keep to deliver a message later.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::{Address, DsnRequest, Message, Sender};

/// The `BODY=` parameter the client gave with MAIL (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum BodyType {
    /// No `BODY=` given (or a message not received over SMTP): the content decides, and a
    /// message with 8-bit octets is sent as `8BITMIME`.
    #[default]
    Undeclared,
    /// `BODY=7BIT`.
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
    /// `BODY=BINARYMIME`. The edge does not offer it; the relay sends such a message with
    /// DATA, declared `8BITMIME`.
    BinaryMime,
}

impl BodyType {
    /// The parameter's value as sent on the wire; `None` when undeclared.
    pub fn keyword(self) -> Option<&'static str> {
        match self {
            Self::Undeclared => None,
            Self::SevenBit => Some("7BIT"),
            Self::EightBitMime => Some("8BITMIME"),
            Self::BinaryMime => Some("BINARYMIME"),
        }
    }
}

/// The TLS session a message arrived over.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlsInfo {
    /// The protocol version, e.g. `TLSv1.3`.
    pub version: String,
    /// The cipher suite, by its IANA name, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
}

/// What is known about the client that handed the message to envoi, and what it declared.
///
/// [`ClientInfo::default`] is a message without declarations: not SMTPUTF8, `BODY=`
/// undeclared, no TLS, no authentication.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClientInfo {
    /// The peer's IP address; `None` for messages injected locally.
    pub ip: Option<IpAddr>,
    /// The name the client gave in EHLO/HELO.
    pub helo: Option<String>,
    /// The identity the client authenticated as, if it did.
    pub auth: Option<String>,
    /// The protocol keyword for the Received header: `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPSA`, `HTTP`...
    pub protocol: String,
    /// True when MAIL carried `SMTPUTF8` (RFC 6531): addresses and headers may be UTF-8.
    #[serde(default)]
    pub smtputf8: bool,
    /// The `BODY=` the client declared.
    #[serde(default)]
    pub body: BodyType,
    /// The TLS session the message arrived over; `None` for plain text.
    #[serde(default)]
    pub tls: Option<TlsInfo>,
}

/// An envelope and its message: the unit the queue stores and delivers.
///
/// Recipients are kept in the order given; [`Envelope::copy_with_recipients`] and
/// [`Envelope::split_by_domain`] keep that order too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The reverse path; bounces go there unless it is the null sender.
    pub sender: Sender,
    /// The forward paths, in the order the client gave them.
    pub recipients: Vec<Address>,
    /// The raw message.
    pub message: Message,
    /// Who handed the message over.
    pub client: ClientInfo,
    /// The host name of the envoi node that received the message.
    pub receiver: String,
    /// When the message was received.
    pub arrival: SystemTime,
    /// What the sender asked of delivery status notifications (RFC 3461); empty when
    /// nothing. Not part of the serde form: each store keeps it in a field of its own, so
    /// that envelopes stored before it existed still decode.
    #[serde(skip)]
    pub dsn: DsnRequest,
}

impl Envelope {
    /// A new envelope received now, with empty client info and receiver.
    pub fn new(sender: Sender, recipients: Vec<Address>, message: impl Into<Message>) -> Self {
        Self {
            sender,
            recipients,
            message: message.into(),
            client: ClientInfo::default(),
            receiver: String::new(),
            arrival: SystemTime::now(),
            dsn: DsnRequest::default(),
        }
    }

    /// The same envelope for only the given recipients (the message is shared, not copied),
    /// with their DSN parameters.
    pub fn copy_with_recipients(&self, recipients: Vec<Address>) -> Self {
        let mut dsn = self.dsn.clone();
        dsn.retain_recipients(&recipients);
        Self {
            recipients,
            dsn,
            ..self.clone()
        }
    }

    /// One envelope per distinct recipient domain (compared case-insensitively), ordered by
    /// domain; each keeps its recipients in their original order.
    pub fn split_by_domain(&self) -> Vec<Self> {
        let mut by_domain: BTreeMap<String, Vec<Address>> = BTreeMap::new();
        for recipient in &self.recipients {
            by_domain
                .entry(recipient.domain_lowercase())
                .or_default()
                .push(recipient.clone());
        }
        by_domain
            .into_values()
            .map(|recipients| self.copy_with_recipients(recipients))
            .collect()
    }

    /// Removes every recipient that names the same mailbox ([`Address::mailbox_key`]) as an
    /// earlier one, keeping the first occurrence and the order; returns how many were removed.
    pub fn dedup_recipients(&mut self) -> usize {
        let before = self.recipients.len();
        let mut seen = HashSet::new();
        self.recipients.retain(|r| {
            let (local, domain) = r.mailbox_key();
            seen.insert((local.to_owned(), domain))
        });
        let removed = before - self.recipients.len();
        if removed > 0 {
            self.dsn.retain_recipients(&self.recipients);
        }
        removed
    }

    /// True when the next hop must offer SMTPUTF8 (RFC 6531) for the message to be relayed as
    /// is: an address is not ASCII, or the client declared SMTPUTF8 and the header section
    /// is not ASCII (internationalized headers, RFC 6532).
    ///
    /// 8-bit headers that arrived without SMTPUTF8 are legacy 8-bit content: they need only
    /// 8BITMIME ([`Envelope::needs_8bitmime`]), as other MTAs relay them. A message declared
    /// SMTPUTF8 whose addresses and headers are all ASCII needs nothing either.
    pub fn needs_smtputf8(&self) -> bool {
        !self.sender.as_str().is_ascii()
            || self.recipients.iter().any(|r| !r.is_ascii())
            || (self.client.smtputf8 && !self.message.header_section().is_ascii())
    }

    /// True when MAIL should carry `SMTPUTF8` where the next hop offers it: the message needs
    /// it, or the client declared it.
    pub fn wants_smtputf8(&self) -> bool {
        self.client.smtputf8 || self.needs_smtputf8()
    }

    /// True when MAIL should carry `BODY=8BITMIME` where the next hop offers it: the client
    /// declared 8-bit content, or (whatever was declared) the message has 8-bit octets.
    pub fn needs_8bitmime(&self) -> bool {
        matches!(
            self.client.body,
            BodyType::EightBitMime | BodyType::BinaryMime
        ) || self.message.has_8bit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn sample() -> Envelope {
        Envelope::new(
            Sender::parse("s@src.org").unwrap(),
            vec![addr("a@B.org"), addr("c@a.org"), addr("d@b.ORG")],
            b"Subject: x\r\n\r\nhi\r\n".to_vec(),
        )
    }

    #[test]
    fn copy_keeps_everything_but_recipients() {
        let env = sample();
        let copy = env.copy_with_recipients(vec![addr("c@a.org")]);
        assert_eq!(copy.recipients, vec![addr("c@a.org")]);
        assert_eq!(copy.sender, env.sender);
        assert_eq!(copy.message, env.message);
        assert_eq!(copy.arrival, env.arrival);
    }

    #[test]
    fn splits_by_domain_case_insensitively() {
        let parts = sample().split_by_domain();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].recipients, vec![addr("c@a.org")]);
        assert_eq!(parts[1].recipients, vec![addr("a@B.org"), addr("d@b.ORG")]);
    }

    #[test]
    fn dedup_keeps_first_of_each_mailbox() {
        let mut env = sample();
        env.recipients = vec![
            addr("a@B.org"),
            addr("a@b.ORG"),
            addr("A@b.org"),
            addr("a@B.org"),
        ];
        assert_eq!(env.dedup_recipients(), 2);
        assert_eq!(env.recipients, vec![addr("a@B.org"), addr("A@b.org")]);
    }

    #[test]
    fn smtputf8_detection() {
        assert!(!sample().needs_smtputf8());
        let mut env = sample();
        env.recipients.push(addr("jörg@b.org"));
        assert!(env.needs_smtputf8() && env.wants_smtputf8());
        // UTF-8 headers without the declaration are 8-bit content, not SMTPUTF8.
        let mut env = sample();
        env.message = Message::new("Subject: ¡hola!\r\n\r\n".as_bytes().to_vec());
        assert!(!env.needs_smtputf8() && !env.wants_smtputf8() && env.needs_8bitmime());
        env.client.smtputf8 = true;
        assert!(env.needs_smtputf8());
        // Declared but all ASCII: wanted, not needed.
        let mut env = sample();
        env.client.smtputf8 = true;
        assert!(!env.needs_smtputf8() && env.wants_smtputf8());
    }

    #[test]
    fn eight_bit_by_declaration_or_content() {
        let mut env = sample();
        assert!(!env.needs_8bitmime());
        env.client.body = BodyType::EightBitMime;
        assert!(env.needs_8bitmime());
        env.client.body = BodyType::SevenBit;
        env.message = Message::new(b"Subject: x\r\n\r\ncaf\xe9\r\n".to_vec());
        assert!(env.needs_8bitmime());
        assert_eq!(BodyType::default(), BodyType::Undeclared);
        assert_eq!(BodyType::BinaryMime.keyword(), Some("BINARYMIME"));
    }
}
