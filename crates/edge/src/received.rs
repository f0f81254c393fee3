//! The Received header the edge prepends (RFC 5321 §4.4, RFC 5322 §3.6.7).

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use envoi_types::Address;

use crate::validate::SessionInfo;

/// The value of `Received:` for one message, on one line:
/// `from HELO (NAME [IP]) by HOST (envoi) with PROTOCOL [for <RCPT>]; DATE`, NAME being the
/// client's forward-confirmed host name when it has one (RFC 5321's TCP-info), else absent.
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
    let mut value = String::with_capacity(160);
    // One buffer for the whole value: it is built for every message (malloc/free were 14 % of
    // envoi's instructions in bench/relay/README.md, "Profile" item 4). Writing to a String
    // cannot fail.
    let _ = write_value(&mut value, session, hostname, protocol, recipients);
    value.push_str(&chrono::Utc::now().to_rfc2822());
    value
}

/// Everything of the value before the date.
fn write_value(
    out: &mut String,
    session: &SessionInfo,
    hostname: &str,
    protocol: &str,
    recipients: &[Address],
) -> fmt::Result {
    let helo = session.helo.as_deref().unwrap_or("unknown");
    write!(out, "from {helo} (")?;
    if let Some(name) = &session.client_name {
        write!(out, "{name} ")?;
    }
    out.write_str("[")?;
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; show them as IPv4.
    match session.peer.ip().to_canonical() {
        IpAddr::V4(v4) => write!(out, "{v4}")?,
        IpAddr::V6(v6) => write!(out, "IPv6:{v6}")?,
    }
    write!(out, "]) by {hostname} (envoi) with {protocol}")?;
    if let [only] = recipients {
        write!(out, " for <{only}>")?;
    }
    out.write_str("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(peer: &str, helo: Option<&str>) -> SessionInfo {
        SessionInfo {
            peer: peer.parse().unwrap(),
            client_name: None,
            helo: helo.map(str::to_owned),
            esmtp: true,
            tls: false,
            tls_session: None,
            auth: None,
        }
    }

    #[test]
    fn names_client_server_protocol_and_single_recipient() {
        let one = [Address::parse("u@example.org").unwrap()];
        let value = received_header(
            &info("192.0.2.1:25", Some("c.test")),
            "mx.test",
            "ESMTPS",
            &one,
        );
        assert!(
            value.starts_with(
                "from c.test ([192.0.2.1]) by mx.test (envoi) with ESMTPS for <u@example.org>; "
            ),
            "{value}"
        );
        assert!(!value.contains('\r') && !value.contains('\n'));
    }

    #[test]
    fn mapped_ipv4_shows_as_ipv4() {
        let value = received_header(
            &info("[::ffff:192.0.2.7]:25", Some("c")),
            "mx",
            "ESMTP",
            &[],
        );
        assert!(value.starts_with("from c ([192.0.2.7]) by mx"), "{value}");
    }

    #[test]
    fn ipv6_literal_and_no_for_clause_for_many() {
        let two = [
            Address::parse("a@example.org").unwrap(),
            Address::parse("b@example.org").unwrap(),
        ];
        let value = received_header(&info("[2001:db8::1]:25", None), "mx.test", "ESMTP", &two);
        assert!(
            value.starts_with("from unknown ([IPv6:2001:db8::1]) by mx.test (envoi) with ESMTP; "),
            "{value}"
        );
    }
}
