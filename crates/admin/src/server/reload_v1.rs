//! `POST /v1/reload`: the same reload as SIGHUP, answering what changed.

use axum::extract::State;
use axum::Json;

use super::extract::ClientAddr;
use super::{AdminState, ApiError};
use crate::api::ReloadReport;

pub(crate) async fn reload(
    State(state): State<AdminState>,
    client: ClientAddr,
) -> Result<Json<ReloadReport>, ApiError> {
    let reloader = state
        .reloader()
        .ok_or_else(|| ApiError::NoRoute("this server cannot reload a configuration".into()))?
        .clone();
    tracing::info!(event = "admin", %client, action = "reload", "admin action");
    // Reading the file and building the relay block: off the async workers.
    let report = tokio::task::spawn_blocking(move || reloader.reload())
        .await
        .map_err(|e| ApiError::Internal(format!("the reload did not finish: {e}")))?;
    Ok(Json(report))
}
