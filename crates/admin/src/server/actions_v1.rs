//! The operations that change the queue: `POST /v1/flush` and, per message,
//! `POST /v1/messages/{id}/{retry,hold,release,bounce}` and `DELETE /v1/messages/{id}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use envoi_queue::{Queue, QueueError};
use envoi_types::QueueId;

use super::{extract, AdminState, ApiError};
use crate::api::{Action, ActionResult, FlushResult, MessageFilter};

/// Messages read per storage call during a selective flush.
const FLUSH_PAGE: usize = 500;

pub(crate) async fn retry(state: State<AdminState>, id: Path<String>) -> ActionAnswer {
    act(state, id, Action::Retry).await
}

pub(crate) async fn hold(state: State<AdminState>, id: Path<String>) -> ActionAnswer {
    act(state, id, Action::Hold).await
}

pub(crate) async fn release(state: State<AdminState>, id: Path<String>) -> ActionAnswer {
    act(state, id, Action::Release).await
}

pub(crate) async fn bounce(state: State<AdminState>, id: Path<String>) -> ActionAnswer {
    act(state, id, Action::Bounce).await
}

pub(crate) async fn delete(state: State<AdminState>, id: Path<String>) -> ActionAnswer {
    act(state, id, Action::Delete).await
}

type ActionAnswer = Result<Json<ActionResult>, ApiError>;

async fn act(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    action: Action,
) -> ActionAnswer {
    let id = extract::id(&id)?;
    let queue = state.queue();
    match action {
        Action::Retry => queue.retry(id),
        Action::Hold => queue.hold(id).await,
        Action::Release => queue.release(id).await,
        Action::Delete => queue.delete(id).await,
        Action::Bounce => queue.bounce(id).await,
    }?;
    Ok(Json(ActionResult { id, action }))
}

/// Without filters: every waiting, unheld message becomes due now. With filters (the
/// listing's): each match is retried; held or in-flight matches are counted as skipped.
pub(crate) async fn flush(
    State(state): State<AdminState>,
    filter: Result<Query<MessageFilter>, QueryRejection>,
) -> Result<Json<FlushResult>, ApiError> {
    let filter = extract::query(filter)?;
    let queue = state.queue();
    if !filter.is_selective() {
        let flushed = queue.flush() as u64;
        tracing::info!(event = "flushed", messages = flushed);
        return Ok(Json(FlushResult {
            flushed,
            skipped: 0,
        }));
    }
    let result = flush_matching(queue, &filter).await?;
    tracing::info!(
        event = "flushed",
        messages = result.flushed,
        skipped = result.skipped
    );
    Ok(Json(result))
}

async fn flush_matching(queue: &Queue, filter: &MessageFilter) -> Result<FlushResult, ApiError> {
    let now = queue.clock().now();
    let mut result = FlushResult {
        flushed: 0,
        skipped: 0,
    };
    let mut after: Option<QueueId> = None;
    loop {
        let query = filter.to_query(now, after, FLUSH_PAGE);
        let page = queue.list(&query).await?;
        for info in &page {
            match queue.retry(info.id) {
                Ok(()) => result.flushed += 1,
                Err(QueueError::Held(_) | QueueError::InFlight(_) | QueueError::NotFound(_)) => {
                    result.skipped += 1;
                }
                Err(other) => return Err(other.into()),
            }
        }
        let Some(last) = page.last().map(|info| info.id) else {
            return Ok(result);
        };
        if page.len() < FLUSH_PAGE || after.is_some_and(|previous| last <= previous) {
            return Ok(result);
        }
        after = Some(last);
    }
}
