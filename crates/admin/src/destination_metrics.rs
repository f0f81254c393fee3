//! Per-destination gauges on `/metrics`, with bounded cardinality: the [`TOP`] destinations by
//! queued count get a series each, every other destination is summed in one series labelled
//! [`OTHER`]. Rendered as text at each scrape from [`envoi_queue::Queue::destinations`] (not
//! through the recorder, which would keep a series for every destination ever seen).
//!
//! - `envoi_destination_queued`: messages waiting or in flight;
//! - `envoi_destination_in_flight`: attempts in flight;
//! - `envoi_destination_oldest_age_seconds`: age of the oldest queued message (the largest
//!   for [`OTHER`]);
//! - `envoi_destination_connection_failures`: consecutive attempts that could not connect;
//! - `envoi_destination_backed_off`, `envoi_destination_suspended`: 1 when so (for
//!   [`OTHER`]: how many).

use std::fmt::Write;
use std::time::SystemTime;

use envoi_queue::DestinationStatus;

/// Destinations with a series of their own.
pub const TOP: usize = 20;
/// The label of the series summing every other destination (not a valid destination name).
pub const OTHER: &str = "(other)";

/// One gauge: name suffix, help text, and its value in a row.
type Gauge = (&'static str, &'static str, fn(&Row) -> String);

/// One destination's (or the rest's) values.
#[derive(Debug, Default, Clone)]
struct Row {
    queued: u64,
    in_flight: u64,
    oldest_age: f64,
    failures: u64,
    backed_off: u64,
    suspended: u64,
}

impl Row {
    fn of(status: &DestinationStatus, now: SystemTime) -> Self {
        let age = status
            .oldest_arrival
            .and_then(|t| now.duration_since(t).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        Self {
            queued: status.queued as u64,
            in_flight: status.in_flight as u64,
            oldest_age: age,
            failures: u64::from(status.connection_failures),
            backed_off: u64::from(status.backed_off_until.is_some()),
            suspended: u64::from(status.suspension.is_some()),
        }
    }

    fn add(&mut self, other: &Row) {
        self.queued += other.queued;
        self.in_flight += other.in_flight;
        self.oldest_age = self.oldest_age.max(other.oldest_age);
        self.failures += other.failures;
        self.backed_off += other.backed_off;
        self.suspended += other.suspended;
    }
}

/// The Prometheus text of the per-destination gauges at `now`.
pub fn render(statuses: &[DestinationStatus], now: SystemTime) -> String {
    let mut sorted: Vec<&DestinationStatus> = statuses.iter().collect();
    sorted.sort_by(|a, b| {
        b.queued
            .cmp(&a.queued)
            .then(a.destination.cmp(&b.destination))
    });
    let mut rows: Vec<(String, Row)> = sorted
        .iter()
        .take(TOP)
        .map(|s| (s.destination.as_str().to_owned(), Row::of(s, now)))
        .collect();
    if sorted.len() > TOP {
        let mut rest = Row::default();
        for status in &sorted[TOP..] {
            rest.add(&Row::of(status, now));
        }
        rows.push((OTHER.to_owned(), rest));
    }
    let mut out = String::new();
    let gauges: [Gauge; 6] = [
        ("queued", "Queued messages per destination", |r| {
            r.queued.to_string()
        }),
        ("in_flight", "Attempts in flight per destination", |r| {
            r.in_flight.to_string()
        }),
        (
            "oldest_age_seconds",
            "Age of the oldest queued message per destination",
            |r| format!("{:.0}", r.oldest_age),
        ),
        (
            "connection_failures",
            "Consecutive attempts that could not connect",
            |r| r.failures.to_string(),
        ),
        ("backed_off", "1 while the destination is backed off", |r| {
            r.backed_off.to_string()
        }),
        ("suspended", "1 while the destination is suspended", |r| {
            r.suspended.to_string()
        }),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP envoi_destination_{name} {help} (top {TOP}, then {OTHER})"
        );
        let _ = writeln!(out, "# TYPE envoi_destination_{name} gauge");
        for (label, row) in &rows {
            let label = escape(label);
            let _ = writeln!(
                out,
                "envoi_destination_{name}{{destination=\"{label}\"}} {}",
                value(row)
            );
        }
    }
    out
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
pub(crate) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoi_queue::testkit::suite::send;
    use envoi_queue::testkit::ScriptedRelay;
    use envoi_queue::{MemoryStore, Queue};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_top_destinations_get_a_series_and_the_rest_one_other() {
        let relay = ScriptedRelay::new();
        let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
            .start()
            .await
            .unwrap();
        for d in 0..TOP + 2 {
            queue
                .suspend(&format!("d{d:02}.test"), None, "")
                .await
                .unwrap();
            for n in 0..=d {
                send(&queue, "s@src.test", &[&format!("r{n}@d{d:02}.test")]).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        let text = render(&queue.destinations(), queue.clock().now());
        let top = format!("d{:02}.test", TOP + 1);
        assert!(
            text.contains(&format!(
                "envoi_destination_queued{{destination=\"{top}\"}} {}",
                TOP + 2
            )),
            "{text}"
        );
        // d00 (1 message) and d01 (2) fall out of the top: summed in "other".
        assert!(
            text.contains("envoi_destination_queued{destination=\"(other)\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("envoi_destination_suspended{destination=\"(other)\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("envoi_destination_oldest_age_seconds{destination=\"(other)\"} 60"),
            "{text}"
        );
        assert!(!text.contains("d00.test"), "{text}");
        let series = text
            .lines()
            .filter(|l| l.starts_with("envoi_destination_queued{"))
            .count();
        assert_eq!(series, TOP + 1);
    }
}
