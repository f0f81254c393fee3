//! The fields of a delivery-status part (RFC 3464 §2.2, §2.3), one recipient block at a time.

use std::fmt::Write as _;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use envoi_types::DsnRequest;

use super::{Action, Failure};
use crate::relay::ReplyOrigin;

/// True when the report must be `message/global-delivery-status` (RFC 6533 §6.2): a UTF-8
/// address or reply text cannot be written in `message/delivery-status`.
pub(super) fn needs_global(failures: &[Failure], dsn: &DsnRequest) -> bool {
    failures.iter().any(|f| {
        !f.recipient.is_ascii()
            || !f.reply.lines.iter().all(|l| l.is_ascii())
            || dsn
                .orcpt(&f.recipient)
                .is_some_and(|o| !o.address.is_ascii())
    })
}

/// One per-recipient block of the delivery-status part, fields in RFC 3464 §2.3's order.
pub(super) fn recipient_block(
    out: &mut String,
    failure: &Failure,
    dsn: &DsnRequest,
    attempted: &str,
    will_retry_until: Option<SystemTime>,
) {
    // RFC 3461 §6.3: the ORCPT the sender gave, as given.
    if let Some(orcpt) = dsn.orcpt(&failure.recipient) {
        let _ = write!(
            out,
            "Original-Recipient: {}; {}\r\n",
            orcpt.address_type, orcpt.address
        );
    }
    // RFC 6533 §3: UTF-8 addresses use the utf-8 address type.
    let address_type = if failure.recipient.is_ascii() {
        "rfc822"
    } else {
        "utf-8"
    };
    let _ = write!(
        out,
        "Final-Recipient: {address_type}; {rcpt}\r\n\
         Action: {action}\r\n\
         Status: {status}\r\n",
        rcpt = failure.recipient,
        action = failure.action.keyword(),
        status = failure.reply.enhanced,
    );
    if let Some(name) = failure.remote_host.as_deref().and_then(mta_name) {
        let _ = write!(out, "Remote-MTA: dns; {name}\r\n");
    }
    diagnostic(out, failure);
    let _ = write!(out, "Last-Attempt-Date: {attempted}\r\n");
    if let (Action::Delayed, Some(until)) = (failure.action, will_retry_until) {
        let _ = write!(out, "Will-Retry-Until: {}\r\n", rfc5322_date(until));
    }
}

/// `Diagnostic-Code`: `smtp` only for what the remote host answered (RFC 3464 §2.3.6).
fn diagnostic(out: &mut String, failure: &Failure) {
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
    out.push_str("\r\n");
}

/// The host name in a relay's `name[address]:port`, for `Remote-MTA: dns;`; `None` for a
/// host without one (a unix socket).
pub(super) fn mta_name(remote_host: &str) -> Option<&str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_mta_is_the_host_name() {
        assert_eq!(mta_name("mx1.dst.test[192.0.2.1]:25"), Some("mx1.dst.test"));
        assert_eq!(mta_name("mx.test[2001:db8::1]:25"), Some("mx.test"));
        assert_eq!(mta_name("[192.0.2.1][192.0.2.1]:25"), Some("[192.0.2.1]"));
        assert_eq!(mta_name("mx.test"), Some("mx.test"));
        assert_eq!(mta_name("unix:/run/lmtp.sock"), None);
    }
}
