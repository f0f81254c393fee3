//! The envelope: everything a queue must keep to deliver a message later.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::{Address, Message, Sender};

/// What is known about the client that handed the message to envoi.
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
        }
    }

    /// The same envelope for only the given recipients (the message is shared, not copied).
    pub fn copy_with_recipients(&self, recipients: Vec<Address>) -> Self {
        Self {
            recipients,
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
        before - self.recipients.len()
    }

    /// True when an address or the message needs SMTPUTF8 (RFC 6531) to be relayed as is.
    pub fn needs_smtputf8(&self) -> bool {
        !self.sender.as_str().is_ascii()
            || self.recipients.iter().any(|r| !r.is_ascii())
            || std::str::from_utf8(self.message.header_section())
                .map(|headers| !headers.is_ascii())
                .unwrap_or(false)
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
        assert!(env.needs_smtputf8());
        let mut env = sample();
        env.message = Message::new("Subject: ¡hola!\r\n\r\n".as_bytes().to_vec());
        assert!(env.needs_smtputf8());
    }
}
