//! `GET /healthz`: 200 when the daemon answers, can read its storage and takes new mail, else
//! 503 with the reason (storage unreadable, or `Queue::accepting` refusing: an attempt's
//! outcome waiting for a full or failing store, a store that reports itself full or failing, a
//! write that has just failed). Needs no token, so load balancers and process supervisors can probe it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::AdminState;
use crate::api::Health;

pub(crate) async fn healthz(State(state): State<AdminState>) -> (StatusCode, Json<Health>) {
    let acceptance = state.queue().accepting();
    if let Some(reason) = acceptance.reason() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unhealthy".into(),
                queued: None,
                error: Some(format!("not accepting mail: {reason}")),
            }),
        );
    }
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
