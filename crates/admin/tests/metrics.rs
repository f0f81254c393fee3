//! `/metrics`: the Prometheus text carries the queue's counters and histograms after a
//! delivery, the queue-size gauges and the quarantine gauge. The recorder is process-global, so this file holds
//! the only test that installs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use envoi_admin::AdminConfig;
use envoi_queue::events;

#[tokio::test]
async fn metrics_show_counters_after_a_delivery_and_queue_gauges() {
    let handle = envoi_admin::install_metrics_recorder().unwrap();
    assert!(
        envoi_admin::install_metrics_recorder().is_err(),
        "a second recorder is refused"
    );
    let h = common::start_with(AdminConfig::default(), |s| s.with_metrics(handle)).await;
    let before = h.client.metrics().await.unwrap();
    for line in [
        format!("{} 0", events::BOUNCED),
        format!("{} 0", events::EXPIRED),
        "envoi_queue_oldest_message_age_seconds 0".to_owned(),
        format!(
            "envoi_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(
            before.lines().any(|l| l == line),
            "no line {line:?} before any event in\n{before}"
        );
    }
    let delivered = h.inject("s@src.example", &["ok@a.example"]).await;
    common::wait_for("the delivery", || async {
        h.info(delivered).await.is_none()
    })
    .await;
    h.deferred("s@src.example", &["busy@b.example"]).await;

    let text = h.client.metrics().await.unwrap();
    for line in [
        format!("{} 2", events::ACCEPTED),
        format!("{} 1", events::DELIVERED),
        format!("{} 1", events::DEFERRED),
        "envoi_queue_messages{state=\"active\"} 0".to_owned(),
        "envoi_queue_messages{state=\"deferred\"} 1".to_owned(),
        "envoi_queue_messages{state=\"held\"} 0".to_owned(),
        "envoi_quarantined_records 0".to_owned(),
        "envoi_destination_queued{destination=\"b.example\"} 1".to_owned(),
        "envoi_destination_in_flight{destination=\"b.example\"} 0".to_owned(),
        format!("{}_count 2", events::STORE_SECONDS),
        format!("{}_count 2", events::ATTEMPT_SECONDS),
        format!("{}_count 1", events::DELIVERY_DELAY_SECONDS),
        "envoi_queue_storage_state{state=\"accepting\"} 1".to_owned(),
        "envoi_queue_storage_state{state=\"failing\"} 0".to_owned(),
        "envoi_queue_storage_state{state=\"full\"} 0".to_owned(),
        "envoi_queue_uncommitted_outcomes 0".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in\n{text}"
        );
    }
    assert!(
        text.contains(&format!("# HELP {} ", events::ACCEPTED)),
        "{text}"
    );
    let oldest: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("envoi_queue_oldest_message_age_seconds "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(oldest > 0.0 && oldest < 60.0, "{oldest}");
    assert!(
        text.contains(&format!("# TYPE {} histogram", events::ATTEMPT_SECONDS)),
        "{text}"
    );
    let raw = h
        .raw(reqwest::Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap();
    assert!(raw.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    h.stop().await;
}
