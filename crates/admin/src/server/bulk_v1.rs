//! `POST /v1/bulk/{action}`: retry, hold, release, delete or bounce many messages in one
//! request: by id, by the listing's filters, or all. Messages that cannot be changed (gone,
//! being delivered, held for a retry) are counted by reason, never failing the whole request.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use envoi_queue::{Queue, QueueError};
use envoi_types::QueueId;

use super::extract::{self, ClientAddr};
use super::{select, AdminState, ApiError};
use crate::api::{Action, BulkRequest, BulkResult, BulkSkipped, MessageFilter, MAX_BULK_IDS};

/// Messages acted on side by side (their store writes share group commits).
const CHUNK: usize = 1000;

pub(crate) async fn bulk(
    State(state): State<AdminState>,
    Path(action): Path<String>,
    client: ClientAddr,
    body: Result<Json<BulkRequest>, JsonRejection>,
) -> Result<Json<BulkResult>, ApiError> {
    let action = Action::from_name(&action).ok_or_else(|| {
        ApiError::NoRoute(format!(
            "no bulk action {action:?}: expected retry, hold, release, delete or bounce"
        ))
    })?;
    let request = extract::json(body)?;
    let selection = Selection::of(request, action)?;
    let queue = state.queue();
    let ids = match &selection {
        Selection::Ids(ids) => ids.clone(),
        Selection::Filter(filter) => select::matching_ids(queue, filter).await?,
        Selection::All => select::matching_ids(queue, &MessageFilter::default()).await?,
    };
    let result = execute(queue, action, &ids).await;
    tracing::info!(
        event = "admin",
        %client,
        action = action.name(),
        selection = %selection.describe(),
        matched = result.matched,
        changed = result.changed,
        "bulk admin action"
    );
    Ok(Json(result))
}

/// `action` on every message of `ids`, chunk by chunk; what changed and what was skipped why.
/// The dashboard's bulk actions call this too, so both count alike.
pub(crate) async fn execute(queue: &Queue, action: Action, ids: &[QueueId]) -> BulkResult {
    let mut tally = Tally::default();
    for chunk in ids.chunks(CHUNK) {
        for (id, result) in chunk.iter().zip(apply(queue, action, chunk).await) {
            tally.count(*id, result);
        }
    }
    tally.into_result(action, ids.len())
}

/// Which messages the request chose.
enum Selection {
    Ids(Vec<QueueId>),
    Filter(MessageFilter),
    All,
}

impl Selection {
    /// The one selector the request gives, or a 400 saying what is wrong with it.
    fn of(request: BulkRequest, action: Action) -> Result<Self, ApiError> {
        let given = usize::from(!request.ids.is_empty())
            + usize::from(request.filter.is_some())
            + usize::from(request.all);
        if given != 1 {
            return Err(ApiError::BadRequest(
                "give exactly one of \"ids\", \"filter\" or \"all\": true".into(),
            ));
        }
        if request.ids.len() > MAX_BULK_IDS {
            return Err(ApiError::BadRequest(format!(
                "{} ids: at most {MAX_BULK_IDS} per request (or select by filter)",
                request.ids.len()
            )));
        }
        if let Some(filter) = &request.filter {
            if filter.after.is_some() || filter.limit.is_some() {
                return Err(ApiError::BadRequest(
                    "a bulk filter selects every match: \"after\" and \"limit\" do not apply"
                        .into(),
                ));
            }
        }
        let by_filter = request.filter.is_some() || request.all;
        if by_filter && action.is_destructive() && !request.confirm {
            return Err(ApiError::BadRequest(format!(
                "{} by filter or all needs \"confirm\": true",
                action.name()
            )));
        }
        Ok(match (request.filter, request.all) {
            (Some(filter), _) => Self::Filter(filter),
            (None, true) => Self::All,
            (None, false) => Self::Ids(request.ids),
        })
    }

    /// For the log line.
    fn describe(&self) -> String {
        match self {
            Self::Ids(ids) => format!("{} ids", ids.len()),
            Self::Filter(filter) => serde_json::to_string(filter).unwrap_or_default(),
            Self::All => "all".to_owned(),
        }
    }
}

/// `action` on every id of `chunk`; one result per id, in order.
async fn apply(queue: &Queue, action: Action, chunk: &[QueueId]) -> Vec<Result<(), QueueError>> {
    match action {
        Action::Hold => queue.set_held_many(chunk, true).await,
        Action::Release => queue.set_held_many(chunk, false).await,
        Action::Retry => chunk.iter().map(|&id| queue.retry(id)).collect(),
        Action::Delete | Action::Bounce => side_by_side(queue, action, chunk).await,
    }
}

/// Deletes or bounces side by side: each is independent of the others.
async fn side_by_side(
    queue: &Queue,
    action: Action,
    chunk: &[QueueId],
) -> Vec<Result<(), QueueError>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, &id) in chunk.iter().enumerate() {
        let queue = queue.clone();
        tasks.spawn(async move {
            let result = if action == Action::Delete {
                queue.delete(id).await
            } else {
                queue.bounce(id).await
            };
            (index, result)
        });
    }
    let mut results: Vec<Result<(), QueueError>> = chunk
        .iter()
        .map(|&id| Err(QueueError::NotFound(id)))
        .collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, result)) => results[index] = result,
            Err(error) => tracing::error!(%error, "a bulk {} task failed to run", action.name()),
        }
    }
    results
}

/// Counts of what happened, by reason.
#[derive(Default)]
struct Tally {
    changed: u64,
    skipped: BTreeMap<String, BulkSkipped>,
}

impl Tally {
    fn count(&mut self, id: QueueId, result: Result<(), QueueError>) {
        let reason = match result {
            Ok(()) => {
                self.changed += 1;
                return;
            }
            Err(QueueError::NotFound(_)) => "not found".to_owned(),
            Err(QueueError::InFlight(_)) => "being delivered".to_owned(),
            Err(QueueError::Held(_)) => "held".to_owned(),
            Err(other) => other.to_string(),
        };
        let entry = self
            .skipped
            .entry(reason.clone())
            .or_insert_with(|| BulkSkipped {
                reason,
                count: 0,
                examples: Vec::new(),
            });
        entry.count += 1;
        if entry.examples.len() < BulkSkipped::MAX_EXAMPLES {
            entry.examples.push(id);
        }
    }

    fn into_result(self, action: Action, matched: usize) -> BulkResult {
        BulkResult {
            action,
            matched: matched as u64,
            changed: self.changed,
            skipped: self.skipped.into_values().collect(),
        }
    }
}
