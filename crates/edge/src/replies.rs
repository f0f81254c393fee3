//! Every reply the edge sends, in one place, so codes and enhanced codes are consistent and
//! tests can name them.
//!
//! Enhanced codes (RFC 2034) go on every 2xx/4xx/5xx reply except the greeting and the
//! EHLO/HELO replies, which RFC 2034 §4 leaves without them.

use std::borrow::Cow;
use std::fmt::Write as _;

use envoi_types::{EnhancedCode, QueueId, Reply};

/// One reply as it will go on the wire, with its code kept for bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The three-digit code.
    pub code: u16,
    /// The wire text, CRLF-terminated lines; borrowed for the fixed replies of every
    /// transaction, so they cost no allocation.
    pub wire: Cow<'static, str>,
}

impl Response {
    /// A reply with its enhanced code.
    pub fn reply(reply: &Reply) -> Self {
        Self {
            code: reply.code,
            wire: Cow::Owned(reply.to_wire()),
        }
    }

    /// A reply whose wire text never changes (`wire` must be what [`Response::reply`] or
    /// [`Response::plain`] would build; the tests check each one).
    const fn fixed(code: u16, wire: &'static str) -> Self {
        Self {
            code,
            wire: Cow::Borrowed(wire),
        }
    }

    /// A reply without enhanced code (greeting, EHLO/HELO, 334 challenges).
    pub fn plain(code: u16, lines: &[String]) -> Self {
        let mut wire = String::new();
        let count = lines.len().max(1);
        for i in 0..count {
            let sep = if i + 1 == count { ' ' } else { '-' };
            let text = lines.get(i).map_or("", String::as_str);
            wire.push_str(&format!("{code}{sep}{text}\r\n"));
        }
        Self {
            code,
            wire: Cow::Owned(wire),
        }
    }

    /// True for 4xx and 5xx: a refusal, logged and counted by stage.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// True when the reply answers client misbehaviour, which counts toward the session's
    /// error limit: syntax and sequence errors (RFC 5321 §4.2.2: 500-504, 555) and failed or
    /// misplaced AUTH (530, 535, 538). Refusals RFC 5321 makes part of a normal transaction
    /// (`452 4.5.3`, refused recipients, policy, size and storage replies) are not.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(self.code, 500..=504 | 555 | 530 | 535 | 538)
    }
}

fn r(code: u16, class: u8, subject: u16, detail: u16, text: &str) -> Response {
    Response::reply(&Reply::new(
        code,
        EnhancedCode::new(class, subject, detail),
        text,
    ))
}

/// `220 host ESMTP` greeting.
pub fn banner(host: &str) -> Response {
    Response::plain(220, &[format!("{host} ESMTP envoi ready")])
}
/// `250 2.0.0 OK`.
pub fn ok() -> Response {
    Response::fixed(250, "250 2.0.0 OK\r\n")
}
/// `250 2.1.0` after MAIL.
pub fn sender_ok() -> Response {
    Response::fixed(250, "250 2.1.0 Sender OK\r\n")
}
/// `250 2.1.5` after RCPT.
pub fn recipient_ok() -> Response {
    Response::fixed(250, "250 2.1.5 Recipient OK\r\n")
}
/// `354` after DATA.
pub fn start_data() -> Response {
    Response::fixed(354, "354 End data with <CR><LF>.<CR><LF>\r\n")
}
/// `250 2.6.0 <id> ...` once the queue stored the message.
pub fn queued(ids: &[QueueId]) -> Response {
    // Written in one buffer: this reply goes out for every message, and building it through
    // `Reply` took a handful of allocations (malloc/free were 14 % of envoi's instructions in
    // bench/relay/README.md, "Profile" item 4). The tests compare it with the `Reply` form.
    let mut wire = String::with_capacity(64 + 30 * ids.len());
    wire.push_str("250 2.6.0 ");
    for (i, id) in ids.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        // Writing to a String cannot fail.
        let _ = write!(wire, "{sep}<{id}>");
    }
    wire.push_str(" Message accepted for delivery\r\n");
    Response {
        code: 250,
        wire: Cow::Owned(wire),
    }
}
/// `250 2.0.0` after a non-final BDAT chunk.
pub fn chunk_ok(size: u64) -> Response {
    r(250, 2, 0, 0, &format!("{size} octets received"))
}
/// `221 2.0.0` after QUIT.
pub fn bye(host: &str) -> Response {
    r(221, 2, 0, 0, &format!("{host} closing connection"))
}
/// `252 2.0.0` for VRFY (RFC 5321 §3.5.3: no verification, but mail is accepted).
pub fn vrfy() -> Response {
    r(
        252,
        2,
        0,
        0,
        "Cannot VRFY user, but will accept message and attempt delivery",
    )
}
/// `214 2.0.0` for HELP.
pub fn help() -> Response {
    r(
        214,
        2,
        0,
        0,
        "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
    )
}
/// `220 2.0.0` before the TLS handshake.
pub fn tls_ready() -> Response {
    r(220, 2, 0, 0, "Ready to start TLS")
}
/// `235 2.7.0` after successful AUTH.
pub fn auth_ok() -> Response {
    r(235, 2, 7, 0, "Authentication successful")
}
/// `334 challenge` during AUTH.
pub fn auth_challenge(base64: &str) -> Response {
    Response::plain(334, &[base64.to_owned()])
}

/// `500 5.5.2`: command line over the limit.
pub fn line_too_long() -> Response {
    r(500, 5, 5, 2, "Line too long")
}
/// `500 5.5.2`: a bare CR or LF in a command line.
pub fn bare_line_ending() -> Response {
    r(500, 5, 5, 2, "Bare CR or LF not allowed, use CRLF")
}
/// `501 5.5.2`: NUL or invalid UTF-8 in a command.
pub fn invalid_bytes() -> Response {
    r(501, 5, 5, 2, "NUL or invalid UTF-8 in command")
}
/// `500 5.5.1`: unknown command.
pub fn unrecognized() -> Response {
    r(500, 5, 5, 1, "Command unrecognized")
}
/// `502 5.5.1`: known but not implemented.
pub fn not_implemented() -> Response {
    r(502, 5, 5, 1, "Command not implemented")
}
/// `501 5.5.4`: bad arguments.
pub fn syntax(usage: &str) -> Response {
    r(501, 5, 5, 4, &format!("Syntax: {usage}"))
}
/// `501 5.1.3`: a path not in angle brackets.
pub fn bad_path() -> Response {
    r(501, 5, 1, 3, "Bad address syntax")
}
/// `553 5.1.3`: the mailbox inside the brackets is not an address.
pub fn bad_mailbox() -> Response {
    r(553, 5, 1, 3, "Mailbox name not allowed")
}
/// `553 5.6.7`: a UTF-8 address without SMTPUTF8 (RFC 6531 §3.5).
pub fn needs_smtputf8() -> Response {
    r(553, 5, 6, 7, "Non-ASCII address requires SMTPUTF8")
}
/// `503 5.5.1`: a command out of sequence.
pub fn bad_sequence(text: &str) -> Response {
    r(503, 5, 5, 1, text)
}
/// `555 5.5.4`: unknown or unsupported MAIL/RCPT parameter.
pub fn unknown_param(keyword: &str) -> Response {
    r(555, 5, 5, 4, &format!("Parameter {keyword} not supported"))
}
/// `552 5.3.4`: the message is (or is declared) over the size limit.
pub fn too_big() -> Response {
    r(552, 5, 3, 4, "Message size exceeds fixed limit")
}
/// `452 4.5.3`: recipient limit reached.
pub fn too_many_recipients() -> Response {
    r(452, 4, 5, 3, "Too many recipients")
}
/// `554 5.4.6`: too many Received headers.
pub fn mail_loop() -> Response {
    r(
        554,
        5,
        4,
        6,
        "Too many Received headers: mail loop detected",
    )
}
/// `554 5.7.1`: relaying refused.
pub fn relay_denied() -> Response {
    r(554, 5, 7, 1, "Relay access denied")
}
/// `554 5.6.0`: a bare CR or LF in the message.
pub fn bare_line_ending_in_data() -> Response {
    r(
        554,
        5,
        6,
        0,
        "Message refused: bare CR or LF in data, use CRLF",
    )
}
/// `554 5.6.0`: a text line over `limit` octets (CRLF included).
pub fn data_line_too_long(limit: usize) -> Response {
    r(
        554,
        5,
        6,
        0,
        &format!("Message refused: line longer than {limit} octets"),
    )
}
/// `421 4.4.2`: the client was silent too long.
pub fn timeout(host: &str) -> Response {
    r(
        421,
        4,
        4,
        2,
        &format!("{host} Timeout waiting for client, closing connection"),
    )
}
/// `421 4.4.2`: the session reached its longest duration.
pub fn session_over(host: &str) -> Response {
    r(
        421,
        4,
        4,
        2,
        &format!("{host} Session time limit reached, closing connection"),
    )
}
/// `421 4.7.0`: too many connections (overall or from this address).
pub fn too_many_connections(host: &str) -> Response {
    r(
        421,
        4,
        7,
        0,
        &format!("{host} Too many connections, try again later"),
    )
}
/// `421 4.7.0`: too many errors in this session.
pub fn too_many_errors(host: &str) -> Response {
    r(
        421,
        4,
        7,
        0,
        &format!("{host} Too many errors, closing connection"),
    )
}
/// `421 4.7.0`: the session's message limit is reached.
pub fn too_many_messages(host: &str) -> Response {
    r(
        421,
        4,
        7,
        0,
        &format!("{host} Too many messages in this session, closing connection"),
    )
}
/// `421 4.3.2`: the server is shutting down.
pub fn shutting_down(host: &str) -> Response {
    r(
        421,
        4,
        3,
        2,
        &format!("{host} Service shutting down, closing connection"),
    )
}
/// `452 4.3.1`: the server's memory budget for messages is spent.
pub fn memory_exhausted() -> Response {
    r(
        452,
        4,
        3,
        1,
        "Insufficient system resources, try again later",
    )
}
/// `451 4.3.0`: an internal failure outside storage (e.g. a header could not be built).
pub fn local_error() -> Response {
    r(451, 4, 3, 0, "Local error in processing, try again later")
}
/// `502 5.5.1`: STARTTLS when no certificate is configured.
pub fn tls_unavailable() -> Response {
    r(502, 5, 5, 1, "STARTTLS not available")
}
/// `454 4.7.0`: the TLS handshake could not be started.
pub fn tls_failed() -> Response {
    r(454, 4, 7, 0, "TLS not available due to temporary reason")
}
/// `535 5.7.8`: wrong credentials.
pub fn auth_failed() -> Response {
    r(535, 5, 7, 8, "Authentication credentials invalid")
}
/// `454 4.7.0`: the credential check failed.
pub fn auth_unavailable() -> Response {
    r(454, 4, 7, 0, "Temporary authentication failure")
}
/// `538 5.7.11`: AUTH without TLS when TLS is required.
pub fn auth_needs_tls() -> Response {
    r(
        538,
        5,
        7,
        11,
        "Encryption required for requested authentication mechanism",
    )
}
/// `504 5.5.4`: unknown AUTH mechanism.
pub fn auth_unknown_mechanism() -> Response {
    r(504, 5, 5, 4, "Unrecognized authentication type")
}
/// `501 5.7.0`: the client cancelled AUTH with `*`.
pub fn auth_cancelled() -> Response {
    r(501, 5, 7, 0, "Authentication cancelled")
}
/// `501 5.5.2`: an AUTH response that is not base64 or not well-formed.
pub fn auth_malformed() -> Response {
    r(501, 5, 5, 2, "Cannot decode authentication response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_replies_match_their_reply_form() {
        assert_eq!(ok(), r(250, 2, 0, 0, "OK"));
        assert_eq!(sender_ok(), r(250, 2, 1, 0, "Sender OK"));
        assert_eq!(recipient_ok(), r(250, 2, 1, 5, "Recipient OK"));
        assert_eq!(
            start_data(),
            Response::plain(354, &["End data with <CR><LF>.<CR><LF>".to_owned()])
        );
    }

    #[test]
    fn only_misbehaviour_counts_as_an_error() {
        let misbehaviour = [
            unrecognized(),
            not_implemented(),
            syntax("X"),
            bad_path(),
            bad_sequence("X"),
            unknown_param("X"),
            line_too_long(),
            bare_line_ending(),
            invalid_bytes(),
            auth_failed(),
            auth_needs_tls(),
            auth_malformed(),
        ];
        for response in misbehaviour {
            assert!(response.is_misbehaviour(), "{}", response.wire);
        }
        let normal = [
            too_many_recipients(),
            relay_denied(),
            bad_mailbox(),
            needs_smtputf8(),
            too_big(),
            memory_exhausted(),
            local_error(),
            mail_loop(),
            bare_line_ending_in_data(),
            auth_unavailable(),
            tls_failed(),
        ];
        for response in normal {
            assert!(
                response.is_error() && !response.is_misbehaviour(),
                "{}",
                response.wire
            );
        }
    }

    #[test]
    fn queued_matches_its_reply_form() {
        let ids = [QueueId::new(), QueueId::new()];
        for ids in [&ids[..0], &ids[..1], &ids[..]] {
            let text: Vec<String> = ids.iter().map(|id| format!("<{id}>")).collect();
            let text = format!("{} Message accepted for delivery", text.join(" "));
            assert_eq!(queued(ids), r(250, 2, 6, 0, &text));
        }
    }
}
