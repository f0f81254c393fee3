//! `GET /v1/messages` (filtered, paged listing), `GET /v1/messages/{id}` (one message) and
//! `GET /v1/messages/{id}/body` (its raw text).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{extract, AdminState, ApiError};
use crate::api::{MessageFilter, MessagePage, MessageView};

pub(crate) async fn list(
    State(state): State<AdminState>,
    filter: Result<Query<MessageFilter>, QueryRejection>,
) -> Result<Json<MessagePage>, ApiError> {
    let filter = extract::query(filter)?;
    let size = filter.page_size().map_err(ApiError::BadRequest)?;
    let now = state.queue().clock().now();
    // One more than the page tells whether there is a next page.
    let query = filter.to_query(now, filter.after, size + 1);
    let mut infos = state.queue().list(&query).await?;
    let next = if infos.len() > size {
        infos.truncate(size);
        infos.last().map(|info| info.id)
    } else {
        None
    };
    Ok(Json(MessagePage {
        messages: infos.iter().map(MessageView::from).collect(),
        next,
    }))
}

/// `?headers=true` adds the header section to the answer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShowParams {
    #[serde(default)]
    headers: bool,
}

pub(crate) async fn show(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    params: Result<Query<ShowParams>, QueryRejection>,
) -> Result<Json<MessageView>, ApiError> {
    let id = extract::id(&id)?;
    let params = extract::query(params)?;
    let queue = state.queue();
    let not_found = || ApiError::from(envoi_queue::QueueError::NotFound(id));
    let info = queue.info(id).await?.ok_or_else(not_found)?;
    // The history lives with the message's state, which the summary leaves out.
    let message = queue.message(id).await?.ok_or_else(not_found)?;
    let mut view = MessageView::from(&info).with_history(&message.meta.history);
    if params.headers {
        let headers = message.envelope.message.header_section();
        view.headers = Some(String::from_utf8_lossy(headers).into_owned());
    }
    Ok(Json(view))
}

/// `GET /v1/messages/{id}/body`: the stored message as it will be relayed (`message/rfc822`),
/// Received header and prequeue changes included, as Postfix's postcat shows it.
pub(crate) async fn body(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = extract::id(&id)?;
    let queue = state.queue();
    let message = queue
        .message(id)
        .await?
        .ok_or(envoi_queue::QueueError::NotFound(id))?
        .envelope
        .message;
    // A streamed message's rest is in a file: read it off the async workers.
    let whole = tokio::task::spawn_blocking(move || message.in_memory())
        .await
        .map_err(|e| ApiError::Internal(format!("reading the body did not finish: {e}")))?
        .map_err(|e| ApiError::Internal(format!("cannot read the body of {id}: {e}")))?;
    Ok(([(CONTENT_TYPE, "message/rfc822")], whole.bytes()).into_response())
}
