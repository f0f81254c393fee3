//! The Prometheus recorder and the gauges the admin API owns.
//!
//! The queue's counters and histograms (`envoi_messages_accepted_total`, ...) are declared in
//! [`envoi_queue::events`]; this module adds the gauges:
//! - [`QUEUE_MESSAGES`] `{state="active|deferred|held"}`: set at every scrape of `/metrics`
//!   from the store's counts;
//! - [`QUARANTINED_RECORDS`]: set at every scrape from the store's quarantine (records set
//!   aside because they cannot be decoded or their body is missing; also listed by
//!   `GET /v1/quarantine`);
//! - [`OLDEST_MESSAGE_AGE`]: set at every scrape from the oldest message's arrival;
//! - [`BUILD_INFO`] `{version}`: 1, set at start;
//! - [`STORAGE_STATE`] `{state="accepting|full|failing"}` (1 for the queue's current
//!   [`envoi_queue::Acceptance`], 0 for the others) and [`UNCOMMITTED`] (attempt outcomes
//!   waiting for the store): set at every scrape from the queue;
//!
//! The SMTP edge declares its own (`envoi_smtp_sessions_active`, the open connections, and
//! its counters) in `envoi_edge::events`; the binary describes them.
//!
//! Histograms are rendered as true Prometheus histograms with the buckets below (those
//! without buckets of their own, such as the edge's transaction histogram, get
//! `DEFAULT_BUCKETS`).

use envoi_queue::events;
use envoi_queue::{Acceptance, StateCounts};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Gauge of queued messages, labelled `state`.
pub const QUEUE_MESSAGES: &str = "envoi_queue_messages";
/// Gauge, labelled `state` (`accepting`, `full`, `failing`): 1 for whether the queue takes
/// new mail now, 0 for the other states: what `Queue::accepting` says, so not `accepting`
/// while an attempt's outcome waits for the store (delivery is paused then), while the store
/// reports itself full or failing, or just after a write failed; the edge then refuses mail
/// at `MAIL`.
pub const STORAGE_STATE: &str = "envoi_queue_storage_state";
/// Gauge of attempt outcomes kept in memory because the store could not commit them yet.
pub const UNCOMMITTED: &str = "envoi_queue_uncommitted_outcomes";

/// Gauge: the age of the oldest queued message, 0 for an empty queue.
pub const OLDEST_MESSAGE_AGE: &str = "envoi_queue_oldest_message_age_seconds";
/// Gauge, always 1, labelled `version`: which envoi is running.
pub const BUILD_INFO: &str = "envoi_build_info";

/// Gauge of records the store set aside (quarantine).
pub const QUARANTINED_RECORDS: &str = "envoi_quarantined_records";

/// Buckets (seconds) for every other histogram (the SMTP transaction's): from a local
/// client's milliseconds to a slow one's minutes.
const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Buckets (seconds) for delivery attempts: network round trips, up to the relay timeouts.
const ATTEMPT_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Buckets (seconds) from arrival to delivery: seconds for direct delivery, hours for retries.
const DELAY_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 14400.0, 86400.0,
];
/// Buckets (seconds) for durable store commits: fsync latencies.
const STORE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the Prometheus metrics recorder: {0}")]
pub struct MetricsError(#[from] BuildError);

/// Installs the Prometheus recorder as the process's global `metrics` recorder, describes
/// every envoi metric, and returns the handle to give [`crate::AdminState::with_metrics`].
/// Call it once, early, before anything records a metric (earlier records are lost).
///
/// # Errors
/// [`MetricsError`] when a recorder is already installed.
pub fn install_metrics_recorder() -> Result<PrometheusHandle, MetricsError> {
    let handle = PrometheusBuilder::new()
        .set_buckets(DEFAULT_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(events::ATTEMPT_SECONDS.into()),
            ATTEMPT_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Full(events::STORE_SECONDS.into()), STORE_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(events::DELIVERY_DELAY_SECONDS.into()),
            DELAY_BUCKETS,
        )?
        .install_recorder()?;
    describe_metrics();
    events::register_metrics();
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// Describes every metric (the queue's and this module's) to the installed recorder.
pub fn describe_metrics() {
    events::describe_metrics();
    metrics::describe_gauge!(QUEUE_MESSAGES, "Queued messages by state");
    metrics::describe_gauge!(OLDEST_MESSAGE_AGE, "Age of the oldest queued message");
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which envoi runs"
    );
    metrics::describe_gauge!(
        QUARANTINED_RECORDS,
        "Stored records set aside as unusable (see /v1/quarantine)"
    );
    metrics::describe_gauge!(
        STORAGE_STATE,
        "1 for whether the queue takes new mail (accepting, full, failing), 0 for the others"
    );
    metrics::describe_gauge!(
        UNCOMMITTED,
        "Attempt outcomes kept in memory because the store could not commit them yet"
    );
}

/// Sets the [`STORAGE_STATE`] and [`UNCOMMITTED`] gauges from the queue's state.
pub fn record_storage_state(acceptance: &Acceptance, uncommitted: usize) {
    for state in ["accepting", "full", "failing"] {
        let value = if acceptance.name() == state { 1.0 } else { 0.0 };
        metrics::gauge!(STORAGE_STATE, "state" => state).set(value);
    }
    metrics::gauge!(UNCOMMITTED).set(uncommitted as f64);
}

/// Sets the [`OLDEST_MESSAGE_AGE`] gauge.
pub fn record_oldest_age(age: std::time::Duration) {
    metrics::gauge!(OLDEST_MESSAGE_AGE).set(age.as_secs_f64());
}

/// Sets the [`QUARANTINED_RECORDS`] gauge.
pub fn record_quarantined(records: usize) {
    metrics::gauge!(QUARANTINED_RECORDS).set(records as f64);
}

/// Sets the [`QUEUE_MESSAGES`] gauges from the store's counts.
pub fn record_queue_size(counts: &StateCounts) {
    for (state, value) in [
        ("active", counts.active),
        ("deferred", counts.deferred),
        ("held", counts.held),
    ] {
        metrics::gauge!(QUEUE_MESSAGES, "state" => state).set(value as f64);
    }
}
