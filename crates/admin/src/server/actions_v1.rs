//! The operations that change the queue: `POST /v1/flush` and, per message,
//! `POST /v1/messages/{id}/{retry,hold,release,bounce}` and `DELETE /v1/messages/{id}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use envoi_queue::{Queue, QueueError};

use super::extract::{self, ClientAddr};
use super::{AdminState, ApiError};
use crate::api::{Action, ActionResult, FlushResult, MessageFilter};

pub(crate) async fn retry(
    state: State<AdminState>,
    id: Path<String>,
    client: ClientAddr,
) -> ActionAnswer {
    act(state, id, client, Action::Retry).await
}

pub(crate) async fn hold(
    state: State<AdminState>,
    id: Path<String>,
    client: ClientAddr,
) -> ActionAnswer {
    act(state, id, client, Action::Hold).await
}

pub(crate) async fn release(
    state: State<AdminState>,
    id: Path<String>,
    client: ClientAddr,
) -> ActionAnswer {
    act(state, id, client, Action::Release).await
}

pub(crate) async fn bounce(
    state: State<AdminState>,
    id: Path<String>,
    client: ClientAddr,
) -> ActionAnswer {
    act(state, id, client, Action::Bounce).await
}

pub(crate) async fn delete(
    state: State<AdminState>,
    id: Path<String>,
    client: ClientAddr,
) -> ActionAnswer {
    act(state, id, client, Action::Delete).await
}

type ActionAnswer = Result<Json<ActionResult>, ApiError>;

async fn act(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    client: ClientAddr,
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
    tracing::info!(event = "admin", %client, action = action.name(), %id, "admin action");
    Ok(Json(ActionResult { id, action }))
}

/// Without filters: every waiting, unheld message becomes due now. With filters (the
/// listing's): each match is retried; held or in-flight matches are counted as skipped.
pub(crate) async fn flush(
    State(state): State<AdminState>,
    client: ClientAddr,
    filter: Result<Query<MessageFilter>, QueryRejection>,
) -> Result<Json<FlushResult>, ApiError> {
    let filter = extract::query(filter)?;
    let queue = state.queue();
    if !filter.is_selective() {
        let flushed = queue.flush().await as u64;
        tracing::info!(
            event = "admin",
            %client,
            action = "flush",
            selection = "all due",
            messages = flushed,
            "admin action"
        );
        return Ok(Json(FlushResult {
            flushed,
            skipped: 0,
        }));
    }
    let result = flush_matching(queue, &filter).await?;
    tracing::info!(
        event = "admin",
        %client,
        action = "flush",
        selection = serde_json::to_string(&filter).unwrap_or_default(),
        messages = result.flushed,
        skipped = result.skipped,
        "admin action"
    );
    Ok(Json(result))
}

async fn flush_matching(queue: &Queue, filter: &MessageFilter) -> Result<FlushResult, ApiError> {
    let mut result = FlushResult {
        flushed: 0,
        skipped: 0,
    };
    for id in super::select::matching_ids(queue, filter).await? {
        match queue.retry(id) {
            Ok(()) => result.flushed += 1,
            Err(QueueError::Held(_) | QueueError::InFlight(_) | QueueError::NotFound(_)) => {
                result.skipped += 1;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(result)
}
