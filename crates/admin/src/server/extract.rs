//! Request parsing shared by the handlers: ids from the path, filters from the query string,
//! each failure a 400 naming what was wrong.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Json, Query};
use axum::http::StatusCode;
use envoi_types::QueueId;

use super::ApiError;

/// The queue id in a path segment.
pub(crate) fn id(text: &str) -> Result<QueueId, ApiError> {
    text.parse()
        .map_err(|e: envoi_types::ParseQueueIdError| ApiError::BadRequest(e.to_string()))
}

/// The query string as `T`, or a 400 naming the bad parameter.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(value)| value)
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

/// The JSON body as `T`, or a 400 naming the bad field (413 when the body is too large).
pub(crate) fn json<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge("the request body is larger than the admin API accepts".into())
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })
}
