//! `GET /metrics`: Prometheus text from the exporter's handle. The queue-size gauges are set
//! from [`envoi_queue::Queue::count_by_state`], and the quarantine gauge from
//! [`envoi_queue::Queue::quarantined`], just before rendering.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::{AdminState, ApiError};
use crate::metrics::{record_quarantined, record_queue_size};

/// The content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn metrics(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let Some(handle) = state.metrics() else {
        return Err(ApiError::NoRoute("metrics are not enabled".into()));
    };
    let counts = state.queue().count_by_state().await?;
    record_queue_size(&counts);
    record_quarantined(state.queue().quarantined().await?.len());
    handle.run_upkeep();
    Ok(([(CONTENT_TYPE, PROMETHEUS_TEXT)], handle.render()).into_response())
}
