//! `GET /metrics`: Prometheus text from the exporter's handle. The queue-size gauges are set
//! from [`envoi_queue::Queue::count_by_state`], the storage-state gauges from
//! [`envoi_queue::Queue::accepting`], and the quarantine gauge from
//! [`envoi_queue::Queue::quarantined`], just before rendering; the per-destination gauges
//! follow, rendered from [`envoi_queue::Queue::destinations`] (`crate::destination_metrics`),
//! then the per-destination counters from [`envoi_queue::Queue::destination_counters`]
//! (`crate::destination_counters`).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::{AdminState, ApiError};
use crate::metrics::{record_quarantined, record_queue_size, record_storage_state};

/// The content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn metrics(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let Some(handle) = state.metrics() else {
        return Err(ApiError::NoRoute("metrics are not enabled".into()));
    };
    let queue = state.queue();
    record_storage_state(&queue.accepting(), queue.uncommitted());
    let counts = queue.count_by_state().await?;
    record_queue_size(&counts);
    record_quarantined(queue.quarantined().await?.len());
    handle.run_upkeep();
    let mut text = handle.render();
    let now = queue.clock().now();
    text.push_str(&crate::destination_metrics::render(
        &queue.destinations(),
        now,
    ));
    text.push_str(&crate::destination_counters::render(
        &queue.destination_counters(),
    ));
    Ok(([(CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response())
}
