//! The edge's metrics, declared in one place with their help text; labels are bounded.

/// Counter of connections, labelled `outcome` = `served` | `over_limit`.
pub const CONNECTIONS: &str = "envoi_smtp_connections_total";
/// Gauge of sessions open now.
pub const SESSIONS: &str = "envoi_smtp_sessions_active";
/// Counter of completed message transfers (DATA or BDAT LAST), labelled `outcome` =
/// `accepted` (2xx) | `deferred` (4xx) | `refused` (5xx).
pub const MESSAGES: &str = "envoi_smtp_messages_total";

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
