//! RFC 3464 delivery status notifications.

use std::fmt::Write as _;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use envoi_types::{ClientInfo, Envelope, Message, Sender};

use super::{BounceContext, BounceFactory, Failure};

/// Above this size only the original's headers are returned (`text/rfc822-headers`).
pub const DEFAULT_HEADERS_ONLY_ABOVE: usize = 128 * 1024;

/// Builds `multipart/report; report-type=delivery-status` bounces (RFC 3464, RFC 6522).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnBounce {
    /// The host name written as `Reporting-MTA` and in the `From` and `Message-ID`.
    pub reporting_mta: String,
    /// Originals larger than this are returned as headers only.
    pub headers_only_above: usize,
}

impl DsnBounce {
    /// A factory reporting as `reporting_mta`, returning originals up to 128 KiB whole.
    pub fn new(reporting_mta: impl Into<String>) -> Self {
        Self {
            reporting_mta: reporting_mta.into(),
            headers_only_above: DEFAULT_HEADERS_ONLY_ABOVE,
        }
    }

    /// The full DSN message bytes.
    pub fn render(&self, context: &BounceContext<'_>) -> Vec<u8> {
        let boundary = format!("{}/{}", context.bounce_id, self.reporting_mta);
        let original = context.original;
        let mut out = String::new();
        let _ = write!(
            out,
            "From: Mail Delivery System <MAILER-DAEMON@{mta}>\r\n\
             To: {to}\r\n\
             Subject: Undelivered Mail Returned to Sender\r\n\
             Date: {date}\r\n\
             Message-ID: <{id}@{mta}>\r\n\
             Auto-Submitted: auto-replied\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status;\r\n\
             \tboundary=\"{boundary}\"\r\n\
             \r\n\
             This is a MIME-encapsulated message.\r\n\
             \r\n",
            mta = self.reporting_mta,
            to = original.sender,
            date = rfc5322_date(context.now),
            id = context.bounce_id,
        );
        let _ = write!(out, "--{boundary}\r\n");
        self.human_part(&mut out, context);
        let _ = write!(out, "--{boundary}\r\n");
        self.status_part(&mut out, context);
        let _ = write!(out, "--{boundary}\r\n");
        let mut bytes = out.into_bytes();
        self.original_part(&mut bytes, &original.message);
        bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        bytes
    }

    fn human_part(&self, out: &mut String, context: &BounceContext<'_>) {
        let _ = write!(
            out,
            "Content-Type: text/plain; charset=utf-8\r\n\
             Content-Description: Notification\r\n\
             Content-Transfer-Encoding: 8bit\r\n\
             \r\n\
             This is the mail system at host {mta}.\r\n\
             \r\n\
             Your message could not be delivered to one or more recipients.\r\n\
             It is attached below. The mail system said:\r\n\
             \r\n",
            mta = self.reporting_mta
        );
        for failure in context.failures {
            let host = failure
                .remote_host
                .as_deref()
                .map(|h| format!(" (host {h})"))
                .unwrap_or_default();
            let _ = write!(out, "<{}>{host}: {}\r\n", failure.recipient, failure.reply);
        }
        out.push_str("\r\n");
    }

    fn status_part(&self, out: &mut String, context: &BounceContext<'_>) {
        let _ = write!(
            out,
            "Content-Type: message/delivery-status\r\n\
             Content-Description: Delivery report\r\n\
             \r\n\
             Reporting-MTA: dns; {mta}\r\n\
             X-Envoi-Queue-ID: {id}\r\n\
             Arrival-Date: {arrival}\r\n",
            mta = self.reporting_mta,
            id = context.original_id,
            arrival = rfc5322_date(context.original.arrival),
        );
        for failure in context.failures {
            out.push_str("\r\n");
            recipient_block(out, failure);
        }
        out.push_str("\r\n");
    }

    fn original_part(&self, out: &mut Vec<u8>, message: &Message) {
        let whole = message.len() <= self.headers_only_above;
        let (content_type, description, bytes) = if whole {
            ("message/rfc822", "Undelivered Message", message.as_bytes())
        } else {
            (
                "text/rfc822-headers",
                "Undelivered Message Headers",
                message.header_section(),
            )
        };
        out.extend_from_slice(
            format!("Content-Type: {content_type}\r\nContent-Description: {description}\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(bytes);
    }
}

/// One per-recipient block of the `message/delivery-status` part.
fn recipient_block(out: &mut String, failure: &Failure) {
    // RFC 6533: non-ASCII addresses use the utf-8 address type.
    let address_type = if failure.recipient.is_ascii() {
        "rfc822"
    } else {
        "utf-8"
    };
    let _ = write!(
        out,
        "Final-Recipient: {address_type}; {rcpt}\r\n\
         Action: failed\r\n\
         Status: {status}\r\n",
        rcpt = failure.recipient,
        status = failure.reply.enhanced,
    );
    if let Some(host) = &failure.remote_host {
        let _ = write!(out, "Remote-MTA: dns; {host}\r\n");
    }
    let _ = write!(out, "Diagnostic-Code: smtp; {}\r\n", failure.reply);
}

/// `Sat, 28 Nov 2026 16:24:34 +0000` (RFC 5322 §3.3, numeric zone).
pub fn rfc5322_date(time: SystemTime) -> String {
    DateTime::<Utc>::from(time)
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

impl BounceFactory for DsnBounce {
    fn bounce(&self, context: BounceContext<'_>) -> Envelope {
        let recipients = context
            .original
            .sender
            .address()
            .cloned()
            .into_iter()
            .collect();
        Envelope {
            sender: Sender::Null,
            recipients,
            message: Message::new(self.render(&context)),
            client: ClientInfo {
                protocol: "local".to_owned(),
                ..ClientInfo::default()
            },
            receiver: self.reporting_mta.clone(),
            arrival: context.now,
        }
    }
}
