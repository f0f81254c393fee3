//! Delivery events: one log line and one counter each, declared beside each other.

use std::time::{Duration, SystemTime};

use envoi_types::{Address, QueueId, Reply, Sender};

/// Counter of messages accepted into the queue.
pub const ACCEPTED: &str = "envoi_messages_accepted_total";
/// Counter of recipients delivered.
pub const DELIVERED: &str = "envoi_recipients_delivered_total";
/// Counter of recipients deferred (transient failure, retry scheduled).
pub const DEFERRED: &str = "envoi_recipients_deferred_total";
/// Counter of recipients failed permanently (bounced, or dropped for the null sender).
pub const BOUNCED: &str = "envoi_recipients_bounced_total";
/// Counter of messages expired after the maximum lifetime.
pub const EXPIRED: &str = "envoi_messages_expired_total";
/// Histogram of delivery attempt durations, seconds.
pub const ATTEMPT_SECONDS: &str = "envoi_attempt_duration_seconds";
/// Histogram of storage commit durations when enqueueing, seconds.
pub const STORE_SECONDS: &str = "envoi_store_commit_duration_seconds";
/// Histogram of the time from arrival to delivery, per delivered recipient.
pub const DELIVERY_DELAY_SECONDS: &str = "envoi_delivery_delay_seconds";
/// Gauge: 1 while the stored schedule is still being read after start-up, then 0.
pub const SCHEDULE_LOADING: &str = "envoi_queue_schedule_loading";

/// Describes every metric once (help text for the Prometheus exporter).
pub fn describe_metrics() {
    metrics::describe_counter!(ACCEPTED, "Messages accepted into the queue");
    metrics::describe_counter!(DELIVERED, "Recipients delivered to the next hop");
    metrics::describe_counter!(DEFERRED, "Recipient attempts failed transiently");
    metrics::describe_counter!(BOUNCED, "Recipients failed permanently");
    metrics::describe_counter!(EXPIRED, "Messages expired after the maximum lifetime");
    metrics::describe_histogram!(ATTEMPT_SECONDS, "Duration of delivery attempts");
    metrics::describe_histogram!(STORE_SECONDS, "Duration of durable stores at enqueue");
    metrics::describe_histogram!(
        DELIVERY_DELAY_SECONDS,
        "Time from arrival to delivery, per delivered recipient"
    );
    metrics::describe_gauge!(
        SCHEDULE_LOADING,
        "1 while the stored schedule is still being read after start-up"
    );
}

/// Creates every counter at zero, so each series exists before its first event (a rate over
/// a series that appears only at its first event misses that event).
pub fn register_metrics() {
    for counter in [ACCEPTED, DELIVERED, DEFERRED, BOUNCED, EXPIRED] {
        metrics::counter!(counter).increment(0);
    }
}

/// What a recipient's attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Delivered,
    Deferred,
    Bounced,
}

/// One attempt outcome for one recipient.
pub(crate) struct RecipientEvent<'a> {
    pub id: QueueId,
    pub sender: &'a Sender,
    pub recipient: &'a Address,
    pub relay: Option<&'a str>,
    pub delay: Duration,
    pub attempt: u32,
    pub reply: &'a Reply,
}

/// A message stored in the queue, for its one `accepted` line.
pub(crate) struct Accepted {
    pub id: QueueId,
    pub sender: Sender,
    pub recipients: usize,
    pub size: usize,
    /// The Message-ID header's value, if the message has one.
    pub message_id: Option<String>,
}

pub(crate) fn accepted(a: &Accepted) {
    metrics::counter!(ACCEPTED).increment(1);
    let message_id = a.message_id.as_deref().map_or("none", str::trim);
    tracing::info!(
        event = "accepted",
        id = %a.id,
        message_id,
        from = %a.sender,
        rcpts = a.recipients,
        size = a.size
    );
}

pub(crate) fn recipient(fate: Fate, e: &RecipientEvent<'_>) {
    let (name, counter) = match fate {
        Fate::Delivered => ("delivered", DELIVERED),
        Fate::Deferred => ("deferred", DEFERRED),
        Fate::Bounced => ("bounced", BOUNCED),
    };
    metrics::counter!(counter).increment(1);
    if fate == Fate::Delivered {
        metrics::histogram!(DELIVERY_DELAY_SECONDS).record(e.delay.as_secs_f64());
    }
    tracing::info!(
        event = name,
        id = %e.id,
        from = %e.sender,
        to = %e.recipient,
        relay = e.relay.unwrap_or("none"),
        delay = format!("{:.3}s", e.delay.as_secs_f64()),
        attempt = e.attempt,
        dsn = %e.reply.enhanced,
        reply = %e.reply,
    );
}

pub(crate) fn expired(id: QueueId, sender: &Sender, arrival: SystemTime, now: SystemTime) {
    metrics::counter!(EXPIRED).increment(1);
    let age = now.duration_since(arrival).unwrap_or_default();
    tracing::info!(event = "expired", id = %id, from = %sender, age = format!("{}s", age.as_secs()));
}

pub(crate) fn deleted_in_flight(id: QueueId) {
    tracing::info!(event = "deleted-in-flight", id = %id,
        reason = "deleted during its attempt: the attempt's outcome is not recorded and bounces nothing");
}

pub(crate) fn not_bounced(id: QueueId, recipient: &Address) {
    tracing::info!(event = "not-bounced", id = %id, to = %recipient,
        reason = "null sender: a bounce is never bounced");
}

pub(crate) fn not_bounced_by_notify(id: QueueId, recipient: &Address) {
    tracing::info!(event = "not-bounced", id = %id, to = %recipient,
        reason = "the sender's NOTIFY excludes FAILURE");
}

/// A report to the sender was built: a bounce, a delay warning or a success report.
pub(crate) fn reported(id: QueueId, report: QueueId, action: &str, recipients: usize) {
    tracing::info!(event = "reported", id = %id, report = %report, action, rcpts = recipients);
}
