//! The Received header the edge prepends (RFC 5321 §4.4, RFC 5322 §3.6.7).

use envoi_types::Address;

use crate::validate::SessionInfo;

/// The value of `Received:` for one message, on one line:
/// `from HELO ([IP]) by HOST (envoi) with PROTOCOL [for <RCPT>]; DATE`.
///
/// The `for` clause is given only for a single recipient, so a message to many does not list
/// them all to each. The HELO name is the client's own claim, shown as given: it reached here
/// through the command parser, which refuses control characters and line breaks.
pub fn received_header(
    session: &SessionInfo,
    hostname: &str,
    protocol: &str,
    recipients: &[Address],
) -> String {
    let helo = session.helo.as_deref().unwrap_or("unknown");
    let ip = session.peer.ip();
    let ip = match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("IPv6:{v6}"),
    };
    let mut value = format!("from {helo} ([{ip}]) by {hostname} (envoi) with {protocol}");
    if let [only] = recipients {
        value.push_str(&format!(" for <{only}>"));
    }
    value.push_str("; ");
    value.push_str(&chrono::Utc::now().to_rfc2822());
    value
}
