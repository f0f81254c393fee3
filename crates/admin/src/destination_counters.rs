//! Per-destination counters on `/metrics`, from [`envoi_queue::Queue::destination_counters`]:
//!
//! - `envoi_destination_delivered_total`: recipients delivered;
//! - `envoi_destination_deferred_total`: recipient attempts that failed transiently;
//! - `envoi_destination_bounced_total`: recipients failed for good (expiry included);
//! - `envoi_destination_connection_failures_total`: attempts that could not connect.
//!
//! Cardinality is bounded as for the gauges: the [`TOP`] destinations by the sum of their
//! counters get a series each; every other destination, and those the queue stopped
//! tracking, are summed in one series labelled [`OTHER`]. Counters only grow, so a
//! destination leaves the top only when another overtakes it; when one does, its counts move
//! from its own series to [`OTHER`] (and back when it returns). The sum over all series of a
//! counter never decreases: `sum(rate(...))` is exact, a single series' rate is exact while
//! it stays in the top.

use std::fmt::Write;

use envoi_queue::{DestinationCounters, DestinationCounts};

use crate::destination_metrics::{escape, OTHER, TOP};

/// One counter: name, help text, and its value in a row.
type Counter = (&'static str, &'static str, fn(&DestinationCounts) -> u64);

const COUNTERS: [Counter; 4] = [
    ("delivered", "Recipients delivered per destination", |c| {
        c.delivered
    }),
    (
        "deferred",
        "Recipient attempts failed transiently per destination",
        |c| c.deferred,
    ),
    (
        "bounced",
        "Recipients failed for good per destination",
        |c| c.bounced,
    ),
    (
        "connection_failures",
        "Attempts that could not connect per destination",
        |c| c.connection_failures,
    ),
];

/// The Prometheus text of the per-destination counters.
pub fn render(counters: &DestinationCounters) -> String {
    let mut sorted: Vec<&(envoi_queue::Destination, DestinationCounts)> =
        counters.destinations.iter().collect();
    sorted.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    let mut rows: Vec<(&str, DestinationCounts)> = sorted
        .iter()
        .take(TOP)
        .map(|(dest, counts)| (dest.as_str(), *counts))
        .collect();
    let mut rest = counters.others;
    for (_, counts) in sorted.iter().skip(TOP) {
        rest.add(counts);
    }
    if rest != DestinationCounts::default() {
        rows.push((OTHER, rest));
    }
    let mut out = String::new();
    for (name, help, value) in COUNTERS {
        let _ = writeln!(
            out,
            "# HELP envoi_destination_{name}_total {help} (top {TOP}, then {OTHER})"
        );
        let _ = writeln!(out, "# TYPE envoi_destination_{name}_total counter");
        for (label, counts) in &rows {
            let _ = writeln!(
                out,
                "envoi_destination_{name}_total{{destination=\"{}\"}} {}",
                escape(label),
                value(counts)
            );
        }
    }
    out
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
    async fn the_busiest_destinations_get_a_series_and_the_rest_one_other() {
        let relay = ScriptedRelay::new();
        let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
            .start()
            .await
            .unwrap();
        // d00 gets 1 recipient, d01 2, ...: the two smallest fall out of the top.
        for d in 0..TOP + 2 {
            for n in 0..=d {
                send(&queue, "s@src.test", &[&format!("r{n}@d{d:02}.test")]).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        let text = render(&queue.destination_counters());
        let top = format!("d{:02}.test", TOP + 1);
        assert!(
            text.contains(&format!(
                "envoi_destination_delivered_total{{destination=\"{top}\"}} {}",
                TOP + 2
            )),
            "{text}"
        );
        assert!(
            text.contains("envoi_destination_delivered_total{destination=\"(other)\"} 3"),
            "{text}"
        );
        assert!(!text.contains("d00.test"), "{text}");
        let series = text
            .lines()
            .filter(|l| l.starts_with("envoi_destination_delivered_total{"))
            .count();
        assert_eq!(series, TOP + 1);
        assert!(text.contains("# TYPE envoi_destination_bounced_total counter"));
    }
}
