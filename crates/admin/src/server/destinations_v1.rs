//! `GET /v1/destinations`, `POST /v1/destinations/{name}/suspend` and `.../resume`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;

use super::extract::ClientAddr;
use super::{AdminState, ApiError};
use crate::api::{DestinationList, DestinationView, ResumeResult, SuspendRequest, SuspensionView};

pub(crate) async fn list(State(state): State<AdminState>) -> Json<DestinationList> {
    let destinations = state.queue().destinations();
    Json(DestinationList {
        destinations: destinations
            .into_iter()
            .map(DestinationView::from)
            .collect(),
    })
}

/// An empty body is a suspension until resumed, without a reason.
pub(crate) async fn suspend(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    client: ClientAddr,
    body: Result<Json<SuspendRequest>, JsonRejection>,
) -> Result<Json<SuspensionView>, ApiError> {
    let request = match body {
        Ok(Json(request)) => request,
        Err(JsonRejection::MissingJsonContentType(_)) => SuspendRequest::default(),
        Err(rejection) => return Err(ApiError::BadRequest(rejection.body_text())),
    };
    let suspension = state
        .queue()
        .suspend(&name, request.duration, &request.reason)
        .await?;
    tracing::info!(
        event = "admin",
        %client,
        action = "suspend",
        destination = %suspension.destination,
        duration = request.duration.map(|d| format!("{}s", d.as_secs())),
        reason = %request.reason,
        "admin action"
    );
    Ok(Json(suspension.into()))
}

pub(crate) async fn resume(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    client: ClientAddr,
) -> Result<Json<ResumeResult>, ApiError> {
    let resumed = state.queue().resume(&name).await?;
    tracing::info!(
        event = "admin",
        %client,
        action = "resume",
        destination = %name,
        resumed,
        "admin action"
    );
    Ok(Json(ResumeResult {
        destination: name.to_lowercase(),
        resumed,
    }))
}
