//! `GET /healthz`: 200 when the daemon answers and can read its storage, else 503. Needs no
//! token, so load balancers and process supervisors can probe it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::AdminState;
use crate::api::Health;

pub(crate) async fn healthz(State(state): State<AdminState>) -> (StatusCode, Json<Health>) {
    match state.queue().count_by_state().await {
        Ok(counts) => (
            StatusCode::OK,
            Json(Health {
                status: "ok".into(),
                queued: Some(counts.total()),
                error: None,
            }),
        ),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unhealthy".into(),
                queued: None,
                error: Some(error.to_string()),
            }),
        ),
    }
}
