//! The messages a filter selects, read page by page through the queue.

use envoi_queue::Queue;
use envoi_types::QueueId;

use super::ApiError;
use crate::api::MessageFilter;

/// Messages read per storage call.
const PAGE: usize = 500;

/// The ids of every message matching `filter`, oldest first. The queue changes meanwhile, so
/// a message may be gone by the time it is acted on; callers count that as skipped.
pub(crate) async fn matching_ids(
    queue: &Queue,
    filter: &MessageFilter,
) -> Result<Vec<QueueId>, ApiError> {
    let now = queue.clock().now();
    let mut ids = Vec::new();
    let mut after: Option<QueueId> = None;
    loop {
        let page = queue.list(&filter.to_query(now, after, PAGE)).await?;
        ids.extend(page.iter().map(|info| info.id));
        let Some(last) = page.last().map(|info| info.id) else {
            return Ok(ids);
        };
        // A store that ignored the cursor would loop forever: stop at the first repeat.
        if page.len() < PAGE || after.is_some_and(|previous| last <= previous) {
            return Ok(ids);
        }
        after = Some(last);
    }
}
