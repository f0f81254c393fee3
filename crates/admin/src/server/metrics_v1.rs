//! `GET /metrics`: Prometheus text from the exporter's handle. The queue-size gauges are set
//! from [`envoi_queue::Queue::count_by_state`], the oldest message's age from the first id listed, the storage-state gauges from
//! [`envoi_queue::Queue::accepting`], and the quarantine gauge from
//! [`envoi_queue::Queue::quarantined`], just before rendering; the per-destination gauges
//! follow, rendered from [`envoi_queue::Queue::destinations`] (`crate::destination_metrics`),
//! then the per-destination counters from [`envoi_queue::Queue::destination_counters`]
//! (`crate::destination_counters`).

use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use envoi_queue::ListQuery;

use super::{AdminState, ApiError};
use crate::metrics::{
    record_oldest_age, record_quarantined, record_queue_size, record_storage_state,
};

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
    let now = queue.clock().now();
    // Ids are in arrival order: the first listed is the oldest.
    let first = ListQuery {
        limit: 1,
        ..ListQuery::default()
    };
    let oldest = queue.list(&first).await?;
    let age = oldest.first().map_or(Duration::ZERO, |info| {
        now.duration_since(info.arrival).unwrap_or_default()
    });
    record_oldest_age(age);
    handle.run_upkeep();
    let mut text = handle.render();
    text.push_str(&crate::destination_metrics::render(
        &queue.destinations(),
        now,
    ));
    text.push_str(&crate::destination_counters::render(
        &queue.destination_counters(),
    ));
    Ok(([(CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response())
}
