//! `GET /v1/quarantine`: stored records that could not be decoded and were set aside.

use axum::extract::State;
use axum::Json;

use super::{AdminState, ApiError};
use crate::api::{QuarantineEntry, QuarantineList};

pub(crate) async fn quarantine(
    State(state): State<AdminState>,
) -> Result<Json<QuarantineList>, ApiError> {
    let records = state.queue().quarantined().await?;
    Ok(Json(QuarantineList {
        records: records
            .into_iter()
            .map(|r| QuarantineEntry {
                key: r.key,
                reason: r.reason,
            })
            .collect(),
    }))
}
