//! The queue's plain settings: concurrency limits and the shutdown grace.
//!
//! With the `serde` feature, [`QueueSettings`] deserialises from a configuration file's keys; a
//! missing key keeps the field's `Default`, so each default is written only here.

use std::collections::BTreeMap;
use std::time::Duration;

/// The default delay-warning threshold: see [`QueueSettings::delay_warnings`].
pub const DEFAULT_DELAY_WARNING: Duration = Duration::from_secs(4 * 3600);
/// The default number of attempts a message's history keeps.
pub const DEFAULT_HISTORY_LIMIT: usize = 10;

/// Concurrency limits and the shutdown grace of a [`crate::Queue`]. Apply the limits with
/// [`crate::QueueBuilder::settings`]; pass `shutdown_grace` to [`crate::Queue::shutdown`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct QueueSettings {
    /// At most this many attempts run at once (default 64; 0 counts as 1).
    pub max_deliveries: usize,
    /// At most this many attempts run to one destination at once (default 20; 0 counts as
    /// 1). A destination at its limit takes none of the `max_deliveries` slots.
    pub max_per_destination: usize,
    /// Deliveries started per second to one destination at most (default: no limit). Due
    /// messages over the rate wait in their destination's lane, in due order.
    pub messages_per_second: Option<f64>,
    /// Limits of named destinations (a domain or a route name), in place of the two above.
    pub destinations: BTreeMap<String, DestinationLimits>,
    /// A destination that cannot be reached (no host accepts a connection) is backed off
    /// this long after its first failure, doubling per consecutive failure (default 60 s).
    /// Its messages wait without spending attempts; a flush lifts it.
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub destination_backoff: Duration,
    /// The longest such back-off (default 30 min).
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub destination_backoff_max: Duration,
    /// At most this many storage calls run at once (default 256; 0 counts as 1).
    pub max_storage_ops: usize,
    /// At shutdown, how long attempts in flight may finish before they are dropped (default
    /// 30 s).
    #[cfg_attr(feature = "serde", serde(with = "envoi_types::duration"))]
    pub shutdown_grace: Duration,
    /// When a message has waited each of these with recipients still pending, its sender
    /// gets one delay warning (RFC 3464 `Action: delayed`), at the first attempt after the
    /// threshold, for the recipients whose `NOTIFY` allows it (default `["4h"]`, as
    /// Sendmail's `Timeout.queuewarn` and the value Postfix's documentation suggests for
    /// `delay_warning_time`: a sender learns of a problem the same working day, and a
    /// message delivered after a short outage warns nobody). Empty: no warnings.
    #[cfg_attr(
        feature = "serde",
        serde(
            deserialize_with = "envoi_types::duration::list",
            serialize_with = "envoi_types::duration::serialize_list"
        )
    )]
    pub delay_warnings: Vec<Duration>,
    /// The attempts each message keeps in its history, the last ones (default 10; 0 keeps
    /// none).
    pub history_limit: usize,
}

/// One destination's own limits; a field left out keeps the queue-wide value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct DestinationLimits {
    /// Attempts in flight at once (in place of `max_per_destination`).
    pub max_in_flight: Option<usize>,
    /// Deliveries started per second (in place of `messages_per_second`). Must be positive
    /// and finite; the rate is smooth (a token bucket holding one token: no burst).
    pub messages_per_second: Option<f64>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            max_deliveries: 64,
            max_per_destination: 20,
            messages_per_second: None,
            destinations: BTreeMap::new(),
            destination_backoff: Duration::from_secs(60),
            destination_backoff_max: Duration::from_secs(30 * 60),
            max_storage_ops: 256,
            shutdown_grace: Duration::from_secs(30),
            delay_warnings: vec![DEFAULT_DELAY_WARNING],
            history_limit: DEFAULT_HISTORY_LIMIT,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testkit::suite::{run_for, send};
    use crate::testkit::ScriptedRelay;
    use crate::{MemoryStore, Queue};

    #[tokio::test(start_paused = true)]
    async fn the_builder_applies_the_delivery_limit() {
        let relay = ScriptedRelay::new();
        relay.set_latency(Duration::from_secs(30));
        let settings = QueueSettings {
            max_deliveries: 3,
            ..QueueSettings::default()
        };
        let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
            .settings(&settings)
            .start()
            .await
            .unwrap();
        for i in 0..6 {
            send(&queue, "s@src.test", &[&format!("r{i}@dst.test")]).await;
        }
        run_for(Duration::from_secs(120)).await;
        assert_eq!(relay.max_concurrent(), 3);
        queue.shutdown(settings.shutdown_grace).await;
    }
}
