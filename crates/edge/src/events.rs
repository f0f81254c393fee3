//! The edge's log lines and metrics, declared beside each other; labels are bounded.
//!
//! One line per event, `key=value`, as an operator reads a maillog: `connect`
//! (`client=name[addr]`), `tls`, `auth`, `refused` (every 4xx/5xx reply) and `disconnect`. Anything the client chose (names,
//! addresses, reply texts that quote them) goes through [`Escaped`], so a log line never holds
//! a raw control character from the network. Passwords are never logged.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use envoi_types::TlsInfo;

use crate::replies::Response;

/// Counter of connections, labelled `outcome` = `served` | `over_limit`.
pub const CONNECTIONS: &str = "envoi_smtp_connections_total";
/// Gauge of sessions open now.
pub const SESSIONS: &str = "envoi_smtp_sessions_active";
/// Counter of completed message transfers (DATA or BDAT LAST), labelled `outcome` =
/// `accepted` (2xx) | `deferred` (4xx) | `refused` (5xx).
pub const MESSAGES: &str = "envoi_smtp_messages_total";
/// Counter of refusals (4xx and 5xx replies), labelled `stage` (see [`Stage`]) and `code`.
pub const REFUSALS: &str = "envoi_smtp_refusals_total";
/// Histogram of mail transactions, seconds: from MAIL accepted to the final reply of DATA or
/// BDAT LAST (whatever that reply says).
pub const TRANSACTION_SECONDS: &str = "envoi_smtp_transaction_duration_seconds";

/// Describes every metric once (help text for the Prometheus exporter).
pub fn describe_metrics() {
    metrics::describe_counter!(
        CONNECTIONS,
        "SMTP connections accepted or refused at the limit"
    );
    metrics::describe_gauge!(SESSIONS, "SMTP sessions open now");
    metrics::describe_counter!(
        MESSAGES,
        "Messages whose transfer completed, by final reply class"
    );
    metrics::describe_counter!(REFUSALS, "SMTP 4xx and 5xx replies, by stage and code");
    metrics::describe_histogram!(
        TRANSACTION_SECONDS,
        "SMTP mail transactions, MAIL to the final reply of DATA or BDAT LAST"
    );
}

/// Creates the series whose labels are known in advance at zero, so each exists before its
/// first event (refusals carry a code and appear with their first refusal).
pub fn register_metrics() {
    for outcome in ["served", "over_limit"] {
        metrics::counter!(CONNECTIONS, "outcome" => outcome).increment(0);
    }
    for outcome in ["accepted", "deferred", "refused"] {
        metrics::counter!(MESSAGES, "outcome" => outcome).increment(0);
    }
    metrics::gauge!(SESSIONS).increment(0.0);
    // A histogram exists (its buckets at 0) once registered.
    let _ = metrics::histogram!(TRANSACTION_SECONDS);
}

/// Where in a session a reply was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Before the banner: connection limits and the connect hook.
    Connect,
    /// EHLO or HELO.
    Helo,
    /// STARTTLS.
    StartTls,
    /// AUTH and its exchange.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA, its content and its end.
    Data,
    /// BDAT and its chunk.
    Bdat,
    /// Any other command, or a line that is not one.
    Command,
    /// The session as a whole: timeouts, the error limit, shutdown.
    Session,
}

impl Stage {
    /// The label and log value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Helo => "helo",
            Self::StartTls => "starttls",
            Self::Auth => "auth",
            Self::Mail => "mail",
            Self::Rcpt => "rcpt",
            Self::Data => "data",
            Self::Bdat => "bdat",
            Self::Command => "command",
            Self::Session => "session",
        }
    }
}

/// Text from the client, written with every control character (and the backslash) escaped
/// as `\x1b` or `\u{85}`, so it can neither forge a log line nor drive a terminal.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() && c.is_ascii() => write!(f, "\\x{:02x}", u32::from(c))?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// What is known about a refused request, for its log line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal<'a> {
    pub stage: Stage,
    pub response: &'a Response,
    /// The name the client gave in EHLO or HELO, once given.
    pub helo: Option<&'a str>,
    /// The reverse path as `<...>`, once MAIL gave one.
    pub from: Option<&'a str>,
    /// The forward path of a refused RCPT, as the client wrote it.
    pub to: Option<&'a str>,
}

/// A 4xx or 5xx reply: one log line and one count.
pub(crate) fn refused(refusal: &Refusal<'_>) {
    let (enhanced, reason) = split_reply(&refusal.response.wire);
    let stage = refusal.stage.as_str();
    let code = refusal.response.code;
    metrics::counter!(REFUSALS, "stage" => stage, "code" => code.to_string()).increment(1);
    tracing::info!(
        event = "refused",
        stage,
        code,
        dsn = enhanced.unwrap_or("none"),
        helo = %Escaped(refusal.helo.unwrap_or("none")),
        from = %Escaped(refusal.from.unwrap_or("none")),
        to = %Escaped(refusal.to.unwrap_or("none")),
        reason = %Escaped(&reason),
    );
}

/// A new connection, before anything is said: `client=name[addr]` as Postfix writes it, the
/// name `unknown` when the client has no confirmed one (it is a checked host name, see
/// [`crate::rdns`], so it needs no escaping).
pub(crate) fn connect(peer: SocketAddr, name: Option<&str>) {
    let name = name.unwrap_or("unknown");
    let ip = peer.ip().to_canonical();
    tracing::info!(event = "connect", client = %format_args!("{name}[{ip}]"), port = peer.port());
}

/// A TLS session was established (implicit or after STARTTLS).
pub(crate) fn tls(negotiated: &TlsInfo) {
    tracing::info!(
        event = "tls",
        version = negotiated.version.as_str(),
        cipher = negotiated.cipher.as_str()
    );
}

/// A TLS handshake failed or timed out; the connection closes.
pub(crate) fn tls_failed() {
    tracing::info!(event = "tls", outcome = "failed");
}

/// An AUTH exchange ended with a verdict; `user` is the name the client gave.
pub(crate) fn auth(mechanism: &str, user: &str, outcome: &str) {
    tracing::info!(event = "auth", mechanism, user = %Escaped(user), outcome);
}

/// What one session did, for its last log line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Command lines read (well-formed or not, AUTH continuations included).
    pub commands: usize,
    /// Messages accepted (`250` at the end of DATA or BDAT LAST).
    pub messages: usize,
    /// Replies counted toward the error limit.
    pub errors: usize,
}

/// The session ended.
pub(crate) fn disconnect(tally: &Tally, duration: Duration, helo: Option<&str>, reason: &str) {
    tracing::info!(
        event = "disconnect",
        duration = format!("{:.3}s", duration.as_secs_f64()),
        helo = %Escaped(helo.unwrap_or("none")),
        commands = tally.commands,
        messages = tally.messages,
        errors = tally.errors,
        reason,
    );
}

/// The enhanced code (when the reply has one) and the text of a reply's lines.
fn split_reply(wire: &str) -> (Option<&str>, String) {
    let mut enhanced = None;
    let mut texts = Vec::new();
    for line in wire.lines() {
        let text = line.get(4..).unwrap_or("");
        let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
        let is_enhanced = first.split('.').count() == 3
            && first
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if is_enhanced {
            enhanced.get_or_insert(first);
            texts.push(rest);
        } else {
            texts.push(text);
        }
    }
    (enhanced, texts.join(" "))
}

/// Counts a completed transfer by its final reply code.
pub(crate) fn message_outcome(code: u16) {
    let outcome = match code / 100 {
        2 => "accepted",
        4 => "deferred",
        _ => "refused",
    };
    metrics::counter!(MESSAGES, "outcome" => outcome).increment(1);
}

/// Records one mail transaction's duration, MAIL to its final reply.
pub(crate) fn transaction_latency(duration: Duration) {
    metrics::histogram!(TRANSACTION_SECONDS).record(duration.as_secs_f64());
}

/// Keeps the active-session gauge right however a session ends.
pub(crate) struct ActiveSession;

impl ActiveSession {
    pub(crate) fn start() -> Self {
        metrics::gauge!(SESSIONS).increment(1.0);
        Self
    }
}

impl Drop for ActiveSession {
    fn drop(&mut self) {
        metrics::gauge!(SESSIONS).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            Escaped("a\x1b[31mb\r\nc\\d\u{85}é").to_string(),
            "a\\x1b[31mb\\x0d\\x0ac\\\\d\\u{85}é"
        );
    }

    #[test]
    fn replies_split_into_enhanced_code_and_text() {
        let relay = replies::relay_denied();
        assert_eq!(
            split_reply(&relay.wire),
            (Some("5.7.1"), "Relay access denied".to_owned())
        );
        let banner = replies::banner("mx");
        assert_eq!(
            split_reply(&banner.wire),
            (None, "mx ESMTP envoi ready".to_owned())
        );
    }
}
