//! The one place errors become HTTP status codes and `{"error": "..."}` bodies.
//!
//! | error | status |
//! |---|---|
//! | malformed id, filter or body | 400 |
//! | missing or wrong token | 401 (with `WWW-Authenticate: Bearer`) |
//! | unknown id or route | 404 |
//! | known route, wrong method | 405 |
//! | body over the size limit | 413 |
//! | message being delivered, or held (for retry) | 409 |
//! | enqueue refused (storage trouble, shutting down) | 503, the SMTP reply as text |
//! | storage failure | 500 (503 when the store is unavailable) |

use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use envoi_queue::{EnqueueError, QueueError, StorageError};

use crate::api::ErrorBody;

/// An error answer of the admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed (bad id, filter, JSON field): 400.
    #[error("{0}")]
    BadRequest(String),
    /// No or wrong bearer token: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// No such message: 404.
    #[error("{0}")]
    NotFound(String),
    /// No such endpoint: 404.
    #[error("{0}")]
    NoRoute(String),
    /// The endpoint exists but not with this method: 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request body is over the configured limit: 413.
    #[error("{0}")]
    TooLarge(String),
    /// The message cannot be changed now (being delivered, or held): 409.
    #[error("{0}")]
    Conflict(String),
    /// The daemon cannot take the request now (enqueue refused, store unavailable): 503.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else, e.g. a storage I/O error: 500.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "admin request failed");
        }
        let unauthorized = matches!(self, Self::Unauthorized(_));
        let mut response = (status, Json(ErrorBody::new(self.to_string()))).into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<QueueError> for ApiError {
    fn from(error: QueueError) -> Self {
        let text = error.to_string();
        match error {
            QueueError::NotFound(_) => Self::NotFound(text),
            QueueError::InFlight(_) => Self::Conflict(format!("{text}; try again in a moment")),
            QueueError::Held(_) => Self::Conflict(format!("{text}; release it first")),
            QueueError::Storage(storage) => storage.into(),
            QueueError::InvalidDestination(_) => Self::BadRequest(text),
            // A variant added later: a server-side failure until it gets its own answer, as
            // the other store errors below.
            _ => Self::Internal(text),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound(id) => Self::NotFound(QueueError::NotFound(id).to_string()),
            StorageError::Unavailable(_) => Self::Unavailable(error.to_string()),
            // The store cannot keep what was asked (suspensions): the request cannot succeed.
            StorageError::Unsupported(_) => Self::Conflict(error.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<EnqueueError> for ApiError {
    /// The SMTP reply the edge would give, e.g. `451 4.3.0 Local error in processing, ...`.
    fn from(error: EnqueueError) -> Self {
        tracing::warn!(%error, "injected message not queued");
        Self::Unavailable(error.reply().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoi_types::QueueId;

    #[test]
    fn queue_errors_map_to_statuses() {
        let id = QueueId::new();
        let not_found = ApiError::from(QueueError::NotFound(id));
        assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            not_found.to_string(),
            format!("no message {id} in the queue")
        );
        assert_eq!(
            ApiError::from(QueueError::InFlight(id)).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::from(QueueError::Storage(StorageError::Io("disk".into()))).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn enqueue_errors_carry_the_smtp_reply() {
        let error = ApiError::from(EnqueueError::Storage(StorageError::Full("quota".into())));
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(error.to_string().starts_with("452 4.3.1 "), "{error}");
    }
}
