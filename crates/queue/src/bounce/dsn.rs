//! RFC 3464 delivery status notifications, with RFC 6533's `message/global-*` types when an
//! address or a reply is UTF-8.
//!
//! Per message: `Original-Envelope-Id` when the sender gave `ENVID`, `Reporting-MTA`,
//! `Arrival-Date`, then the queue id (extension fields follow the standard ones, RFC 3464
//! §2.2). Per recipient: `Original-Recipient` when the sender gave `ORCPT`,
//! `Final-Recipient` (`rfc822;`, or `utf-8;` for a UTF-8 address), `Action` (`failed`,
//! `delayed`, `delivered`, `relayed`), `Status`, `Remote-MTA: dns; <host name>` when a host
//! was involved, `Diagnostic-Code` (`smtp;` only for a remote host's own reply, `X-Envoi;`
//! for a failure envoi made itself: DNS, a refused connection, expiry, retries given up),
//! `Last-Attempt-Date`, and `Will-Retry-Until` in a delay warning.
//!
//! A failure report returns the whole message, or only its headers when the sender asked
//! `RET=HDRS` or the message is larger than [`DsnBounce::headers_only_above`]; delay and
//! success reports return the headers only (RFC 3461 §4.3 leaves them to the MTA; Postfix
//! does the same).

use std::fmt::Write as _;

use envoi_types::{ClientInfo, DsnRequest, Envelope, Message, Ret, Sender};

use super::fields::{needs_global, recipient_block};
use super::{Action, BounceContext, BounceFactory};

pub use super::fields::rfc5322_date;

/// Above this size only the original's headers are returned (`text/rfc822-headers`).
pub const DEFAULT_HEADERS_ONLY_ABOVE: usize = 128 * 1024;

/// Builds `multipart/report; report-type=delivery-status` reports (RFC 3464, RFC 6522).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnBounce {
    /// The host name written as `Reporting-MTA` and in the `From` and `Message-ID`.
    pub reporting_mta: String,
    /// Originals larger than this are returned as headers only.
    pub headers_only_above: usize,
}

/// The wording of one kind of report: its subject and its human-readable lead.
fn wording(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Failed => (
            "Undelivered Mail Returned to Sender",
            "Your message could not be delivered to one or more recipients.\r\n\
             It is attached below. The mail system said:",
        ),
        Action::Delayed => (
            "Delayed Mail (still being retried)",
            "Your message could not be delivered yet to one or more recipients.\r\n\
             The mail system will keep trying; no action is needed. It said:",
        ),
        Action::Delivered | Action::Relayed => (
            "Successful Mail Delivery Report",
            "Your message was delivered, or handed to a system that will not report on it,\r\n\
             for these recipients, as you asked. The mail system said:",
        ),
    }
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
        let report_type = if needs_global(context.failures, &original.dsn) {
            "global-delivery-status"
        } else {
            "delivery-status"
        };
        let action = context
            .failures
            .first()
            .map_or(Action::Failed, |f| f.action);
        let (subject, _) = wording(action);
        let mut out = String::new();
        let _ = write!(
            out,
            "From: Mail Delivery System <MAILER-DAEMON@{mta}>\r\n\
             To: {to}\r\n\
             Subject: {subject}\r\n\
             Date: {date}\r\n\
             Message-ID: <{id}@{mta}>\r\n\
             Auto-Submitted: auto-replied\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type={report_type};\r\n\
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
        self.human_part(&mut out, context, action);
        let _ = write!(out, "--{boundary}\r\n");
        self.status_part(&mut out, context, report_type);
        let _ = write!(out, "--{boundary}\r\n");
        let mut bytes = out.into_bytes();
        let whole = action == Action::Failed && original.dsn.ret != Some(Ret::Headers);
        let delivered = matches!(action, Action::Delivered | Action::Relayed);
        self.original_part(&mut bytes, &original.message, whole, delivered);
        bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        bytes
    }

    fn human_part(&self, out: &mut String, context: &BounceContext<'_>, action: Action) {
        let (_, lead) = wording(action);
        let _ = write!(
            out,
            "Content-Type: text/plain; charset=utf-8\r\n\
             Content-Description: Notification\r\n\
             Content-Transfer-Encoding: 8bit\r\n\
             \r\n\
             This is the mail system at host {mta}.\r\n\
             \r\n\
             {lead}\r\n\
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

    fn status_part(&self, out: &mut String, context: &BounceContext<'_>, report_type: &str) {
        // message/* parts are 7bit unless said otherwise (RFC 2046 §5.2); UTF-8 is 8bit.
        let encoding = if report_type.starts_with("global") {
            "Content-Transfer-Encoding: 8bit\r\n"
        } else {
            ""
        };
        let dsn: &DsnRequest = &context.original.dsn;
        let _ = write!(
            out,
            "Content-Type: message/{report_type}\r\n\
             {encoding}\
             Content-Description: Delivery report\r\n\
             \r\n"
        );
        // RFC 3461 §6.2: the ENVID the sender gave comes back as given.
        if let Some(envid) = &dsn.envid {
            let _ = write!(out, "Original-Envelope-Id: {envid}\r\n");
        }
        let _ = write!(
            out,
            "Reporting-MTA: dns; {mta}\r\n\
             Arrival-Date: {arrival}\r\n\
             X-Envoi-Queue-ID: {id}\r\n",
            mta = self.reporting_mta,
            id = context.original_id,
            arrival = rfc5322_date(context.original.arrival),
        );
        let attempted = rfc5322_date(context.now);
        for failure in context.failures {
            out.push_str("\r\n");
            recipient_block(out, failure, dsn, &attempted, context.will_retry_until);
        }
        out.push_str("\r\n");
    }

    /// The original: whole when `whole` and within the size limit, else its headers;
    /// described as delivered or undelivered. A spooled message is quoted whole only if its
    /// file can be read now; else its headers.
    fn original_part(&self, out: &mut Vec<u8>, message: &Message, whole: bool, delivered: bool) {
        let whole_message = (whole && message.len() <= self.headers_only_above)
            .then(|| message.in_memory().ok())
            .flatten();
        let message = whole_message.as_ref().unwrap_or(message);
        let whole = whole_message.is_some();
        // RFC 6532 §3.7, RFC 6533 §6.3: a message with UTF-8 headers travels as message/global.
        let global = !message.header_section().is_ascii();
        let (content_type, bytes) = match (whole, global) {
            (true, false) => ("message/rfc822", message.as_bytes()),
            (true, true) => ("message/global", message.as_bytes()),
            (false, false) => ("text/rfc822-headers", message.header_section()),
            (false, true) => ("message/global-headers", message.header_section()),
        };
        let description = match (delivered, whole) {
            (false, true) => "Undelivered Message",
            (false, false) => "Undelivered Message Headers",
            (true, _) => "Delivered Message Headers",
        };
        let encoding = if bytes.is_ascii() {
            ""
        } else {
            "Content-Transfer-Encoding: 8bit\r\n"
        };
        out.extend_from_slice(
            format!(
                "Content-Type: {content_type}\r\n{encoding}Content-Description: {description}\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(bytes);
    }
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
            dsn: DsnRequest::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use envoi_types::{Address, EnhancedCode, QueueId, Reply};

    use super::*;
    use crate::bounce::Failure;
    use crate::relay::ReplyOrigin;

    fn render(body: &[u8], failure: Failure) -> String {
        let original = Envelope::new(
            Sender::parse("s@src.test").unwrap(),
            vec![failure.recipient.clone()],
            body.to_vec(),
        );
        let bounce = DsnBounce::new("mx.envoi.test").render(&BounceContext {
            original: &original,
            original_id: QueueId::from_bytes([1; 16]),
            bounce_id: QueueId::from_bytes([2; 16]),
            failures: &[failure],
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_882_674),
            will_retry_until: None,
        });
        String::from_utf8(bounce).unwrap()
    }

    fn failure(reply: Reply, remote_host: Option<&str>, origin: ReplyOrigin) -> Failure {
        Failure {
            recipient: Address::parse("a@dst.test").unwrap(),
            action: Action::Failed,
            reply,
            remote_host: remote_host.map(str::to_owned),
            origin,
        }
    }

    #[test]
    fn a_utf8_report_is_declared_8bit() {
        let reply = Reply::new(550, EnhancedCode::new(5, 1, 1), "no");
        let mut utf8 = failure(reply, None, ReplyOrigin::Local);
        utf8.recipient = Address::parse("jörg@dst.test").unwrap();
        let text = render(b"Subject: x\r\n\r\nhi\r\n", utf8);
        assert!(text.contains(
            "Content-Type: message/global-delivery-status\r\n\
             Content-Transfer-Encoding: 8bit\r\n"
        ));
        assert!(text.contains("Final-Recipient: utf-8; jörg@dst.test\r\n"));
        assert!(text.contains("Content-Type: message/rfc822\r\nContent-Description"));
    }

    #[test]
    fn a_multi_line_reply_is_one_folded_diagnostic() {
        let reply = Reply::parse(b"550-5.1.1 first line\r\n550 5.1.1 second line\r\n").unwrap();
        let text = render(
            b"Subject: x\r\n\r\nhi\r\n",
            failure(reply, Some("mx.test[192.0.2.1]:25"), ReplyOrigin::Remote),
        );
        assert!(
            text.contains(
                "Remote-MTA: dns; mx.test\r\n\
                 Diagnostic-Code: smtp; 550 5.1.1 first line\r\n second line\r\n\
                 Last-Attempt-Date: Sat, 28 Nov 2026 16:17:54 +0000\r\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_original_with_utf8_headers_is_returned_as_message_global() {
        let reply = Reply::new(550, EnhancedCode::new(5, 1, 1), "no");
        let body = "Subject: café\r\n\r\nhi\r\n".as_bytes();
        let text = render(body, failure(reply.clone(), None, ReplyOrigin::Local));
        assert!(
            text.contains("Content-Type: message/global\r\nContent-Transfer-Encoding: 8bit\r\n"),
            "{text}"
        );
        let mut factory = DsnBounce::new("mx.envoi.test");
        factory.headers_only_above = 4;
        let original = Envelope::new(Sender::Null, vec![], body.to_vec());
        let headers_only = factory.render(&BounceContext {
            original: &original,
            original_id: QueueId::from_bytes([1; 16]),
            bounce_id: QueueId::from_bytes([2; 16]),
            failures: &[failure(reply, None, ReplyOrigin::Local)],
            now: SystemTime::UNIX_EPOCH,
            will_retry_until: None,
        });
        let headers_only = String::from_utf8(headers_only).unwrap();
        assert!(headers_only.contains("Content-Type: message/global-headers\r\n"));
        assert!(!headers_only.contains("hi\r\n"));
    }

    #[test]
    fn a_delay_warning_says_until_when_and_returns_headers_only() {
        let reply = Reply::new(451, EnhancedCode::new(4, 2, 0), "busy");
        let mut delayed = failure(reply, Some("mx.test[192.0.2.1]:25"), ReplyOrigin::Remote);
        delayed.action = Action::Delayed;
        let original = Envelope::new(
            Sender::parse("s@src.test").unwrap(),
            vec![delayed.recipient.clone()],
            b"Subject: x\r\n\r\nthe body\r\n".to_vec(),
        );
        let text = DsnBounce::new("mx.envoi.test").render(&BounceContext {
            original: &original,
            original_id: QueueId::from_bytes([1; 16]),
            bounce_id: QueueId::from_bytes([2; 16]),
            failures: &[delayed],
            now: SystemTime::UNIX_EPOCH,
            will_retry_until: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(86400)),
        });
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("Subject: Delayed Mail (still being retried)\r\n"));
        assert!(
            text.contains(
                "Action: delayed\r\nStatus: 4.2.0\r\n\
                 Remote-MTA: dns; mx.test\r\n\
                 Diagnostic-Code: smtp; 451 4.2.0 busy\r\n\
                 Last-Attempt-Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n\
                 Will-Retry-Until: Fri, 02 Jan 1970 00:00:00 +0000\r\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("Content-Type: text/rfc822-headers\r\n"),
            "{text}"
        );
        assert!(!text.contains("the body"), "{text}");
    }
}
