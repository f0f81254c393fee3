//! RFC 3464 delivery status notifications, with RFC 6533's `message/global-*` types when an
//! address or a reply is UTF-8.
//!
//! Per message: `Reporting-MTA`, `Arrival-Date`, then the queue id (extension fields follow
//! the standard ones, RFC 3464 §2.2). Per recipient:
//! `Final-Recipient` (`rfc822;`, or `utf-8;` for a UTF-8 address), `Action: failed`,
//! `Status`, `Remote-MTA: dns; <host name>` when a host was involved, `Diagnostic-Code`
//! (`smtp;` only for a remote host's own reply, `X-Envoi;` for a failure envoi made itself:
//! DNS, a refused connection, expiry, retries given up) and `Last-Attempt-Date`.

use std::fmt::Write as _;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use envoi_types::{ClientInfo, Envelope, Message, Sender};

use super::{BounceContext, BounceFactory, Failure};
use crate::relay::ReplyOrigin;

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
        let report_type = if needs_global(context.failures) {
            "global-delivery-status"
        } else {
            "delivery-status"
        };
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
        self.human_part(&mut out, context);
        let _ = write!(out, "--{boundary}\r\n");
        self.status_part(&mut out, context, report_type);
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

    fn status_part(&self, out: &mut String, context: &BounceContext<'_>, report_type: &str) {
        // message/* parts are 7bit unless said otherwise (RFC 2046 §5.2); UTF-8 is 8bit.
        let encoding = if report_type.starts_with("global") {
            "Content-Transfer-Encoding: 8bit\r\n"
        } else {
            ""
        };
        let _ = write!(
            out,
            "Content-Type: message/{report_type}\r\n\
             {encoding}\
             Content-Description: Delivery report\r\n\
             \r\n\
             Reporting-MTA: dns; {mta}\r\n\
             Arrival-Date: {arrival}\r\n\
             X-Envoi-Queue-ID: {id}\r\n",
            mta = self.reporting_mta,
            id = context.original_id,
            arrival = rfc5322_date(context.original.arrival),
        );
        let attempted = rfc5322_date(context.now);
        for failure in context.failures {
            out.push_str("\r\n");
            recipient_block(out, failure, &attempted);
        }
        out.push_str("\r\n");
    }

    fn original_part(&self, out: &mut Vec<u8>, message: &Message) {
        // A spooled message is quoted whole only if its file can be read now; else its headers.
        let whole_message = (message.len() <= self.headers_only_above)
            .then(|| message.in_memory().ok())
            .flatten();
        let message = whole_message.as_ref().unwrap_or(message);
        let whole = whole_message.is_some();
        // RFC 6532 §3.7, RFC 6533 §6.3: a message with UTF-8 headers travels as message/global.
        let global = !message.header_section().is_ascii();
        let (content_type, description, bytes) = match (whole, global) {
            (true, false) => ("message/rfc822", "Undelivered Message", message.as_bytes()),
            (true, true) => ("message/global", "Undelivered Message", message.as_bytes()),
            (false, false) => (
                "text/rfc822-headers",
                "Undelivered Message Headers",
                message.header_section(),
            ),
            (false, true) => (
                "message/global-headers",
                "Undelivered Message Headers",
                message.header_section(),
            ),
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

/// True when the report must be `message/global-delivery-status` (RFC 6533 §6.2): a UTF-8
/// address or reply text cannot be written in `message/delivery-status`.
fn needs_global(failures: &[Failure]) -> bool {
    failures
        .iter()
        .any(|f| !f.recipient.is_ascii() || !f.reply.lines.iter().all(|l| l.is_ascii()))
}

/// One per-recipient block of the delivery-status part.
fn recipient_block(out: &mut String, failure: &Failure, attempted: &str) {
    // RFC 6533 §3: UTF-8 addresses use the utf-8 address type.
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
    if let Some(name) = failure.remote_host.as_deref().and_then(mta_name) {
        let _ = write!(out, "Remote-MTA: dns; {name}\r\n");
    }
    // RFC 3464 §2.3.6: `smtp` says the text is what the remote host answered.
    let diagnostic_type = match failure.origin {
        ReplyOrigin::Remote => "smtp",
        ReplyOrigin::Local => "X-Envoi",
    };
    let reply = &failure.reply;
    let _ = write!(
        out,
        "Diagnostic-Code: {diagnostic_type}; {} {}",
        reply.code, reply.enhanced
    );
    // One reply line per field line: a multi-line reply stays within line limits, and
    // unfolds to the one-line form.
    let mut lines = reply.lines.iter();
    if let Some(first) = lines.next() {
        let _ = write!(out, " {first}");
    }
    for line in lines {
        let _ = write!(out, "\r\n {line}");
    }
    let _ = write!(out, "\r\nLast-Attempt-Date: {attempted}\r\n");
}

/// The host name in a relay's `name[address]:port`, for `Remote-MTA: dns;`; `None` for a
/// host without one (a unix socket).
fn mta_name(remote_host: &str) -> Option<&str> {
    if remote_host.starts_with("unix:") {
        return None;
    }
    let name = match remote_host.rfind('[') {
        Some(at) if at > 0 => &remote_host[..at],
        _ => remote_host,
    };
    (!name.is_empty()).then_some(name)
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use envoi_types::{Address, EnhancedCode, QueueId, Reply};

    use super::*;

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
        });
        String::from_utf8(bounce).unwrap()
    }

    fn failure(reply: Reply, remote_host: Option<&str>, origin: ReplyOrigin) -> Failure {
        Failure {
            recipient: Address::parse("a@dst.test").unwrap(),
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
    fn remote_mta_is_the_host_name() {
        assert_eq!(mta_name("mx1.dst.test[192.0.2.1]:25"), Some("mx1.dst.test"));
        assert_eq!(mta_name("mx.test[2001:db8::1]:25"), Some("mx.test"));
        assert_eq!(mta_name("[192.0.2.1][192.0.2.1]:25"), Some("[192.0.2.1]"));
        assert_eq!(mta_name("mx.test"), Some("mx.test"));
        assert_eq!(mta_name("unix:/run/lmtp.sock"), None);
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
        });
        let headers_only = String::from_utf8(headers_only).unwrap();
        assert!(headers_only.contains("Content-Type: message/global-headers\r\n"));
        assert!(!headers_only.contains("hi\r\n"));
    }
}
