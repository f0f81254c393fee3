//! Delivery events: one log line and one counter each, declared beside each other.

use std::time::{Duration, SystemTime};

use envoi_types::{Address, QueueId, Reply, Sender};

use crate::relay::Timings;

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
/// Gauge of the bytes of the messages in the queue (their sizes as stored), kept as messages
/// enter and leave.
pub const QUEUE_BYTES: &str = "envoi_queue_bytes";

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
    metrics::describe_gauge!(QUEUE_BYTES, "Bytes of the messages in the queue");
}

/// Creates every counter at zero and every histogram empty, so each series exists before its
/// first event (a rate over a series that appears only at its first event misses that event).
pub fn register_metrics() {
    for counter in [ACCEPTED, DELIVERED, DEFERRED, BOUNCED, EXPIRED] {
        metrics::counter!(counter).increment(0);
    }
    for histogram in [ATTEMPT_SECONDS, STORE_SECONDS, DELIVERY_DELAY_SECONDS] {
        let _ = metrics::histogram!(histogram);
    }
    metrics::gauge!(QUEUE_BYTES).increment(0.0);
}

/// The queue's bytes went up (`grew`) or down by `size`.
pub(crate) fn queue_bytes_changed(size: u64, grew: bool) {
    let gauge = metrics::gauge!(QUEUE_BYTES);
    if grew {
        gauge.increment(size as f64);
    } else {
        gauge.decrement(size as f64);
    }
}

/// What a recipient's attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Delivered,
    Deferred,
    Bounced,
}

/// Where a recipient's delay went, as Postfix's `delays=a/b/c/d` splits it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delays {
    /// a: from arrival to this attempt's start (time in the queue).
    pub queued: Duration,
    /// b: from the attempt's start to the relay starting on the recipient's next hop (claim,
    /// and the relay's wait for a slot among the next hops of the attempt).
    pub waited: Duration,
    /// c: opening a session (DNS, the destination's connection rate, connect, greeting,
    /// EHLO, TLS, AUTH).
    pub connection: Duration,
    /// d: the transaction, MAIL to the final reply.
    pub transfer: Duration,
}

impl Delays {
    /// No attempt was made (expiry, an administrative bounce): all of it was in the queue.
    pub fn queued_only(queued: Duration) -> Self {
        Self {
            queued,
            ..Self::default()
        }
    }

    /// `a/b/c/d` in seconds, as Postfix prints them.
    fn render(&self) -> String {
        format!(
            "{:.3}/{:.3}/{:.3}/{:.3}",
            self.queued.as_secs_f64(),
            self.waited.as_secs_f64(),
            self.connection.as_secs_f64(),
            self.transfer.as_secs_f64()
        )
    }
}

/// When one delivery attempt's parts happened, measured by the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttemptTimes {
    /// From arrival to the attempt's start.
    pub queued: Duration,
    /// From the attempt's start to the relay being called.
    pub before_relay: Duration,
    /// The relay call, whole.
    pub relay_call: Duration,
}

impl AttemptTimes {
    /// A recipient's delays, from what the relay reported for it; a relay that reports
    /// nothing has its whole call counted as transfer.
    pub fn delays(&self, timings: Option<Timings>) -> Delays {
        match timings {
            Some(t) => Delays {
                queued: self.queued,
                waited: self.before_relay.saturating_add(t.waited),
                connection: t.connection,
                transfer: t.transfer,
            },
            None => Delays {
                queued: self.queued,
                waited: self.before_relay,
                connection: Duration::ZERO,
                transfer: self.relay_call,
            },
        }
    }
}

/// A time as RFC 3339 text, in UTC to the second.
fn rfc3339(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One attempt outcome for one recipient.
pub(crate) struct RecipientEvent<'a> {
    pub id: QueueId,
    pub sender: &'a Sender,
    pub recipient: &'a Address,
    pub relay: Option<&'a str>,
    pub delay: Duration,
    pub delays: Delays,
    /// For a deferral, when the next attempt is due.
    pub next: Option<SystemTime>,
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
    // Only a deferral has a next attempt; `None` leaves the field out.
    let next = e.next.filter(|_| fate == Fate::Deferred).map(rfc3339);
    tracing::info!(
        event = name,
        id = %e.id,
        from = %e.sender,
        to = %e.recipient,
        relay = e.relay.unwrap_or("none"),
        delay = format!("{:.3}s", e.delay.as_secs_f64()),
        delays = e.delays.render(),
        next,
        attempt = e.attempt,
        dsn = %e.reply.enhanced,
        reply = %e.reply,
    );
}

pub(crate) fn expired(id: QueueId, sender: &Sender, arrival: SystemTime, now: SystemTime) {
    metrics::counter!(EXPIRED).increment(1);
    let age = now.duration_since(arrival).unwrap_or_default();
    tracing::info!(
        event = "expired",
        id = %id,
        from = %sender,
        age = format!("{}s", age.as_secs()),
        delay = format!("{:.3}s", age.as_secs_f64()),
        delays = Delays::queued_only(age).render(),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_add_the_queue_wait_to_the_relay_wait_and_print_as_postfix_does() {
        let times = AttemptTimes {
            queued: ms(12_000),
            before_relay: ms(5),
            relay_call: ms(900),
        };
        let delays = times.delays(Some(Timings::new(ms(20), ms(300), ms(450))));
        assert_eq!(delays.render(), "12.000/0.025/0.300/0.450");
    }

    #[test]
    fn a_relay_that_reports_nothing_has_its_call_counted_as_transfer() {
        let times = AttemptTimes {
            queued: ms(1_500),
            before_relay: ms(1),
            relay_call: ms(700),
        };
        assert_eq!(times.delays(None).render(), "1.500/0.001/0.000/0.700");
        assert_eq!(
            Delays::queued_only(ms(3_000)).render(),
            "3.000/0.000/0.000/0.000"
        );
    }

    #[test]
    fn the_next_attempt_is_rfc3339_utc() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(rfc3339(at), "2027-01-15T08:00:00Z");
    }
}
