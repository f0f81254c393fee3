//! The dashboard's error pages: a status and a sentence for people, in the page chrome.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;

use super::layout;
use crate::server::ApiError;

/// A failed page or action, shown as an HTML page with this status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebError {
    status: StatusCode,
    detail: String,
}

impl WebError {
    /// An error page with `status` saying `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    /// A 400 saying what was wrong with the request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
}

impl From<ApiError> for WebError {
    fn from(error: ApiError) -> Self {
        Self::new(error.status(), error.to_string())
    }
}

impl From<envoi_queue::StorageError> for WebError {
    fn from(error: envoi_queue::StorageError) -> Self {
        ApiError::from(error).into()
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), error = %self.detail, "dashboard request failed");
        }
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = html! {
            h1 { (self.status.as_u16()) " " (title) }
            p.error { (self.detail) }
            p { a href="/" { "Back to the overview" } }
        };
        let page = layout::bare(title, body);
        (self.status, Html(page.into_string())).into_response()
    }
}
