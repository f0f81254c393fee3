//! Policies that add the headers RFC 5321 §4.4 and RFC 5322 §3.6 expect.

use envoi_types::{Envelope, QueueId};

use super::PrequeuePolicy;
use crate::bounce::dsn::rfc5322_date;

/// Adds `Date:` (the arrival time, RFC 5322 format with a numeric zone) when missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddDateHeader;

impl PrequeuePolicy for AddDateHeader {
    fn apply(&self, envelope: Envelope) -> Vec<Envelope> {
        if envelope.message.header("Date").is_some() {
            return vec![envelope];
        }
        let date = rfc5322_date(envelope.arrival);
        vec![prepend(envelope, "Date", &date)]
    }
}

/// Adds `Message-ID: <unique@hostname>` when missing.
#[derive(Debug, Clone, Default)]
pub struct AddMessageIdHeader {
    /// The right-hand side of generated ids; the envelope's receiver when empty.
    pub hostname: String,
}

impl PrequeuePolicy for AddMessageIdHeader {
    fn apply(&self, envelope: Envelope) -> Vec<Envelope> {
        if envelope.message.header("Message-ID").is_some() {
            return vec![envelope];
        }
        let host = if self.hostname.is_empty() {
            envelope.receiver.as_str()
        } else {
            self.hostname.as_str()
        };
        let id = format!("<{}@{}>", QueueId::new(), host);
        vec![prepend(envelope, "Message-ID", &id)]
    }
}

/// Prepends a `Received:` trace header (RFC 5321 §4.4) built from the client info.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddReceivedHeader;

impl PrequeuePolicy for AddReceivedHeader {
    fn apply(&self, envelope: Envelope) -> Vec<Envelope> {
        let value = received_value(&envelope);
        vec![prepend(envelope, "Received", &value)]
    }
}

/// The value of a Received header for `envelope`:
/// `from HELO ([IP]) by RECEIVER with PROTOCOL for <RCPT>; DATE`.
pub fn received_value(envelope: &Envelope) -> String {
    let client = &envelope.client;
    let mut value = String::new();
    if client.helo.is_some() || client.ip.is_some() {
        value.push_str("from ");
        value.push_str(client.helo.as_deref().unwrap_or("unknown"));
        if let Some(ip) = client.ip {
            value.push_str(&format!(" ([{ip}])"));
        }
        value.push(' ');
    }
    value.push_str(&format!("by {}", envelope.receiver));
    if !client.protocol.is_empty() {
        value.push_str(&format!(" with {}", client.protocol));
    }
    if let [only] = envelope.recipients.as_slice() {
        value.push_str(&format!(" for <{only}>"));
    }
    value.push_str(&format!("; {}", rfc5322_date(envelope.arrival)));
    value
}

fn prepend(mut envelope: Envelope, name: &str, value: &str) -> Envelope {
    match envelope.message.with_header_prepended(name, value) {
        Ok(message) => envelope.message = message,
        // Values come from validated envelope fields; a failure means a client-supplied name
        // carried a line break, and the header is better left out than the message refused.
        Err(error) => tracing::warn!(%error, header = name, "header not added"),
    }
    envelope
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoi_types::{Address, ClientInfo, Sender};
    use std::time::{Duration, UNIX_EPOCH};

    fn env(message: &'static [u8]) -> Envelope {
        let mut e = Envelope::new(
            Sender::Null,
            vec![Address::parse("r@example.org").unwrap()],
            message,
        );
        e.arrival = UNIX_EPOCH + Duration::from_secs(1_795_882_674);
        e.receiver = "mx.envoi.test".into();
        e.client = ClientInfo {
            ip: Some("192.0.2.7".parse().unwrap()),
            helo: Some("client.example".into()),
            auth: None,
            protocol: "ESMTP".into(),
            ..ClientInfo::default()
        };
        e
    }

    #[test]
    fn date_added_only_when_missing() {
        let out = AddDateHeader
            .apply(env(b"Subject: x\r\n\r\nbody\r\n"))
            .remove(0);
        assert_eq!(
            out.message.header("date").as_deref(),
            Some("Sat, 28 Nov 2026 16:17:54 +0000")
        );
        let kept = AddDateHeader
            .apply(env(b"Date: yesterday\r\n\r\n"))
            .remove(0);
        assert_eq!(kept.message.headers("date"), vec!["yesterday"]);
    }

    #[test]
    fn message_id_added_only_when_missing() {
        let policy = AddMessageIdHeader::default();
        let out = policy.apply(env(b"Subject: x\r\n\r\n")).remove(0);
        let id = out.message.header("message-id").unwrap();
        assert!(
            id.starts_with('<') && id.ends_with("@mx.envoi.test>"),
            "{id}"
        );
        let kept = policy.apply(env(b"Message-ID: <a@b>\r\n\r\n")).remove(0);
        assert_eq!(kept.message.headers("message-id"), vec!["<a@b>"]);
    }

    #[test]
    fn received_header_is_first() {
        let out = AddReceivedHeader
            .apply(env(b"Subject: x\r\n\r\n"))
            .remove(0);
        assert!(out.message.as_bytes().starts_with(
            b"Received: from client.example ([192.0.2.7]) by mx.envoi.test with ESMTP \
              for <r@example.org>; Sat, 28 Nov 2026 16:17:54 +0000\r\nSubject: x\r\n"
        ));
    }
}
