//! Reading the queue's listing page by page: the ids a filter selects, and bounded scans for
//! the summary and the queue shape.

use envoi_queue::{MessageInfo, Queue};
use envoi_types::QueueId;

use super::ApiError;
use crate::api::MessageFilter;

/// Messages read per storage call.
const PAGE: usize = 1000;

/// Calls `visit` with every message matching `filter`, oldest first, reading at most `max`;
/// answers whether the scan covered every match.
pub(crate) async fn scan(
    queue: &Queue,
    filter: &MessageFilter,
    max: usize,
    mut visit: impl FnMut(&MessageInfo),
) -> Result<bool, ApiError> {
    let now = queue.clock().now();
    let mut after: Option<QueueId> = None;
    let mut scanned = 0usize;
    while scanned < max {
        let limit = PAGE.min(max - scanned);
        let page = queue.list(&filter.to_query(now, after, limit)).await?;
        let Some(last) = page.last().map(|info| info.id) else {
            return Ok(true);
        };
        // A store that ignored the cursor would loop forever: stop at the first repeat.
        if after.is_some_and(|previous| last <= previous) {
            return Ok(false);
        }
        page.iter().for_each(&mut visit);
        scanned += page.len();
        if page.len() < limit {
            return Ok(true);
        }
        after = Some(last);
    }
    Ok(false)
}

/// The ids of every message matching `filter`, oldest first. The queue changes meanwhile, so
/// a message may be gone by the time it is acted on; callers count that as skipped.
pub(crate) async fn matching_ids(
    queue: &Queue,
    filter: &MessageFilter,
) -> Result<Vec<QueueId>, ApiError> {
    let mut ids = Vec::new();
    scan(queue, filter, usize::MAX, |info| ids.push(info.id)).await?;
    Ok(ids)
}
